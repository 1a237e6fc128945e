"""The two request signatures of the Alibaba wire (aliyun-wire §2), computed once for both
sides: the console's client signs with them (``searchapi.aliyun``), the engine verifies with
them (``engine.aliyun.auth``).

Pure functions over strings, exactly as the official SDK (``alibabacloud_tea_openapi``
0.4.6, ``utils.py``) computes them; the spec's test vectors (§2.3) are reproduced by
``tests/unit/engine/test_aliyun_auth.py`` (verifying) and
``tests/unit/searchapi/test_searchapi_aliyun.py`` (signing). No clock, nonce or HTTP here:
the caller supplies every value that is signed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import unquote_plus

from wire import forms
from wire.aliyun import ACS3


def percent_encode(value: str) -> str:
    """RFC 3986 encoding, as both signatures use it: only ``A-Z a-z 0-9 - _ . ~`` stay."""
    return forms.quote_rfc3986(value)


def query_pairs(query_string: str) -> list[tuple[str, str]]:
    """A query string decoded into pairs as sent, ``+`` read as a space (the SDK builds its
    URLs with ``urlencode``, which writes spaces that way)."""
    pairs = []
    for item in query_string.split("&"):
        if item:
            key, _, value = item.partition("=")
            pairs.append((unquote_plus(key), unquote_plus(value)))
    return pairs


def form_encode(pairs: Iterable[tuple[str, str]]) -> str:
    """A form body (or URL query) as the SDK writes it: ``urlencode``, spaces as ``+``.

    The caller orders the pairs: the SDK sorts a form body by key and leaves a query in the
    order it was built (aliyun-wire §2.3).
    """
    return forms.urlencode(pairs)


def body_sha256(body: bytes) -> str:
    """``x-acs-content-sha256``: the hex SHA-256 of the exact body bytes (empty for none)."""
    return hashlib.sha256(body).hexdigest()


# -- ACS3-HMAC-SHA256 --------------------------------------------------------------------------


def acs3_canonical_request(
    *,
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    body_sha256: str,
) -> str:
    """The canonical request of aliyun-wire §2.2.

    ``query`` is decoded (``query_pairs``), its keys as sent; ``headers`` are the signed ones,
    names lower-case. Canonical headers end in a newline and are followed by the separator,
    hence the empty line before the signed header names.
    """
    canonical_query = "&".join(f"{key}={percent_encode(value)}" for key, value in sorted(query))
    names = sorted(headers)
    canonical_headers = "".join(f"{name}:{headers[name].strip()}\n" for name in names)
    return "\n".join(
        [method.upper(), path, canonical_query, canonical_headers, ";".join(names), body_sha256]
    )


def acs3_string_to_sign(canonical_request: str) -> str:
    return f"{ACS3}\n" + hashlib.sha256(canonical_request.encode()).hexdigest()


def acs3_signature(secret: str, canonical_request: str) -> str:
    """hex(HMAC-SHA256(AccessKey Secret, string to sign))."""
    string_to_sign = acs3_string_to_sign(canonical_request)
    return hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()


def acs3_authorization(
    *,
    access_key_id: str,
    secret: str,
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    body_sha256: str,
) -> str:
    """The ``Authorization`` header that signs a request; every one of ``headers`` is signed.

    ``headers`` names may be in any case: they are signed lower-case, as the SDK does.
    """
    lower = {name.lower(): value for name, value in headers.items()}
    canonical = acs3_canonical_request(
        method=method, path=path, query=query, headers=lower, body_sha256=body_sha256
    )
    return (
        f"{ACS3} Credential={access_key_id},SignedHeaders={';'.join(sorted(lower))},"
        f"Signature={acs3_signature(secret, canonical)}"
    )


# -- legacy v2 (HMAC-SHA1) ---------------------------------------------------------------------


def v2_string_to_sign(params: Iterable[tuple[str, str]], method: str = "POST") -> str:
    """``params``: every query parameter but ``Signature`` and every form-body parameter."""
    canonical = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params))
    return f"{method.upper()}&%2F&" + percent_encode(canonical)


def v2_signature(secret: str, params: Iterable[tuple[str, str]], method: str = "POST") -> str:
    """base64(HMAC-SHA1(AccessKey Secret + "&", string to sign))."""
    string_to_sign = v2_string_to_sign(params, method)
    mac = hmac.new(f"{secret}&".encode(), string_to_sign.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()
