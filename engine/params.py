"""Wire parameters: body parsing (baidu-wire §3.1) and the field rules of §5.

Parsers raise WireError; the caller decides the order in which they run (baidu-wire §8.2).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import unquote_to_bytes

from engine.errors import WireError
from wire.baidu import (
    BRIEF_TOO_LONG,
    DEFAULT_RN,
    MAX_BRIEF_BYTES,
    MAX_DELETE_BATCH,
    MAX_IMAGE_BASE64,
    MAX_LABEL,
    MAX_TAGS,
    PAGE_WINDOW,
    cont_sign_parts,
)

# Fields in one form body; more is no SDK's doing and would only cost parsing time.
MAX_FIELDS = 1000

_DIGITS = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() takes full-width digits and "²"
_MAX_DIGITS = 10  # significant digits of the largest number any field takes
_BASE64 = re.compile(rb"[A-Za-z0-9+/]*={0,2}")


class Params:
    """Body parameters: the last occurrence wins, empty values count as absent except for
    `image` and `url`, and values that are not UTF-8 are remembered as invalid (216100)."""

    def __init__(self, pairs: list[tuple[bytes, bytes]]) -> None:
        self._raw: dict[str, bytes] = {}
        for key, value in pairs:
            self._raw[key.decode("utf-8", "replace")] = value

    def sent(self, name: str) -> bool:
        """Sent at all, even empty (the selector rule for `image` and `url`)."""
        return name in self._raw

    def raw(self, name: str) -> bytes:
        return self._raw.get(name, b"")

    def get(self, name: str) -> str | None:
        """The text value, None when absent or empty; WireError(216100) if not UTF-8."""
        value = self._raw.get(name)
        if not value:
            return None
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise WireError(216100) from None


def parse_body(content_type: str, body: bytes) -> Params:
    """Form-urlencoded (the SDKs) or multipart/form-data (one vendor sample)."""
    if content_type.lower().startswith("multipart/form-data"):
        return Params(_multipart(content_type, body))
    return Params(_urlencoded(body))


def _urlencoded(body: bytes) -> list[tuple[bytes, bytes]]:
    # Parsed by hand because Django's QueryDict replaces invalid UTF-8 instead of failing,
    # and the wire wants 216100 for it (baidu-wire §3.1).
    pairs: list[tuple[bytes, bytes]] = []
    for item in body.split(b"&"):
        if not item:
            continue
        if len(pairs) >= MAX_FIELDS:
            raise WireError(216100)
        key, _, value = item.partition(b"=")
        pairs.append((_unquote(key), _unquote(value)))
    return pairs


def _unquote(value: bytes) -> bytes:
    value = value.replace(b"+", b" ")
    if b"%" not in value:
        return value
    # A base64 image's only escapes, undone in C: `unquote_to_bytes` loops in Python over
    # every escape, tens of thousands in one image. Only when no other escape is left is the
    # answer the same.
    fast = value.replace(b"%2B", b"+").replace(b"%2F", b"/").replace(b"%3D", b"=")
    return fast if b"%" not in fast else unquote_to_bytes(value)


def _multipart(content_type: str, body: bytes) -> list[tuple[bytes, bytes]]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise WireError(216100)
    pairs = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        pairs.append((name.encode(), payload if isinstance(payload, bytes) else b""))
    return pairs


# ------------------------------------------------------------------------------ fields


def brief(value: str | None) -> str | None:
    if value is not None and len(value.encode()) > MAX_BRIEF_BYTES:
        raise WireError(216100, BRIEF_TOO_LONG)
    # PostgreSQL cannot store NUL in text: refused as a parameter, not failed as 282000 (which a
    # client would retry for ever).
    if value is not None and "\x00" in value:
        raise WireError(216100)
    return value


def _decimal(text: str) -> int | None:
    """Plain ASCII decimal, leading zeros allowed; None for anything else."""
    if not _DIGITS.fullmatch(text):
        return None
    # Python's int() refuses more than 4300 digits (ValueError, which would be 282000), and
    # any value that many digits long is out of every range here anyway.
    significant = text.lstrip("0")
    return int(significant or "0") if len(significant) <= _MAX_DIGITS else None


def _uint16(text: str) -> int:
    number = _decimal(text.strip())
    if number is None or not 1 <= number <= MAX_LABEL:
        raise WireError(216100)
    return number


def tags(value: str | None) -> tuple[int, ...] | None:
    """One or two integers 1..65535, comma-separated (baidu-wire §5.6)."""
    if value is None:
        return None
    items = value.split(",")
    if len(items) > MAX_TAGS:
        raise WireError(216100)
    return tuple(_uint16(item) for item in items)


def tag_logic(value: str | None) -> int:
    if value is None:
        return 0
    if value.strip() not in ("0", "1"):
        raise WireError(216100)
    return int(value.strip())


def class_id(value: str | None) -> int | None:
    return None if value is None else _uint16(value)


def _bounded(value: str | None, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    number = _decimal(value.strip())
    if number is None or not low <= number <= high:
        raise WireError(216100)
    return number


def pn(value: str | None) -> int:
    return _bounded(value, 0, 0, PAGE_WINDOW - 1)


def rn(value: str | None) -> int:
    return _bounded(value, DEFAULT_RN, 1, PAGE_WINDOW)


def _cont_sign(text: str) -> str:
    parts = cont_sign_parts(text)
    if parts is None:
        raise WireError(216100)
    return f"{parts[0]},{parts[1]}"


def cont_sign_single(value: str) -> str:
    """update: exactly one signature (baidu-wire §5.8)."""
    return _cont_sign(value.strip())


def cont_sign_batch(value: str) -> list[str]:
    """delete: up to 100 signatures joined by `;`, blanks and empty segments ignored."""
    items = [item.strip() for item in value.split(";") if item.strip()]
    if not items:
        raise WireError(216100)
    if len(items) > MAX_DELETE_BATCH:
        raise WireError(282006)
    return list(dict.fromkeys(_cont_sign(item) for item in items))


def image_bytes(raw: bytes) -> bytes:
    """The file bytes of an `image` value: 216200 empty, 216201 not base64, 216202 over 4M."""
    if not raw:
        raise WireError(216200)
    if not _BASE64.fullmatch(raw) or len(raw) % 4:
        raise WireError(216201)  # also catches a `data:image/...;base64,` prefix
    if len(raw) > MAX_IMAGE_BASE64:
        raise WireError(216202)
    try:
        data = base64.b64decode(raw, validate=True)
    except binascii.Error:
        raise WireError(216201) from None
    if not data:
        raise WireError(216200)
    return data


def cont_sign_of(data: bytes) -> str:
    """Engine derivation (baidu-wire §5.8): the first 8 bytes of SHA-256 as two big-endian
    uint32."""
    d = hashlib.sha256(data).digest()
    return f"{int.from_bytes(d[0:4], 'big')},{int.from_bytes(d[4:8], 'big')}"
