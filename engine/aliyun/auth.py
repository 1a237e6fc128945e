"""ACS3-HMAC-SHA256 and legacy v2 (HMAC-SHA1) signatures (aliyun-wire §2).

Every failure is the same 403 NoPermission: telling an unknown key from a bad signature would
help nobody but someone guessing keys.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from urllib.parse import quote, unquote_plus

from django.http import HttpRequest
from django.utils import timezone

from engine.aliyun.errors import AliyunError
from engine.models import EngineApp
from wire.aliyun import ACS3, DATE_FORMAT, MAX_CLOCK_SKEW, V2_METHOD, V2_VERSION

# Without these a captured call could be replayed with another body, at another time, or as
# another operation.
_ACS3_REQUIRED_SIGNED = frozenset({"host", "x-acs-date", "x-acs-content-sha256", "x-acs-action"})


def _quote(value: str) -> str:
    return quote(value, safe="~")


def query_pairs(query_string: str) -> list[tuple[str, str]]:
    """The decoded query as sent, `+` read as a space (the SDK builds the URL that way)."""
    pairs = []
    for item in query_string.split("&"):
        if item:
            key, _, value = item.partition("=")
            pairs.append((unquote_plus(key), unquote_plus(value)))
    return pairs


def acs3_canonical_request(
    *,
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    body_sha256: str,
) -> str:
    """The canonical request of aliyun-wire §2.2; `headers` are the signed ones, lower-case."""
    canonical_query = "&".join(f"{key}={_quote(value)}" for key, value in sorted(query))
    names = sorted(headers)
    canonical_headers = "".join(f"{name}:{headers[name].strip()}\n" for name in names)
    return "\n".join(
        [method.upper(), path, canonical_query, canonical_headers, ";".join(names), body_sha256]
    )


def acs3_signature(secret: str, canonical_request: str) -> str:
    string_to_sign = f"{ACS3}\n" + hashlib.sha256(canonical_request.encode()).hexdigest()
    return hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()


def v2_string_to_sign(params: Iterable[tuple[str, str]]) -> str:
    canonical = "&".join(f"{_quote(k)}={_quote(v)}" for k, v in sorted(params))
    return "POST&%2F&" + _quote(canonical)


def v2_signature(secret: str, params: Iterable[tuple[str, str]]) -> str:
    mac = hmac.new(f"{secret}&".encode(), v2_string_to_sign(params).encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def authenticate(request: HttpRequest, body: bytes, form: list[tuple[str, str]]) -> EngineApp:
    """The AccessKey pair that signed this call, or AliyunError NoPermission."""
    if request.META.get("HTTP_X_ACS_SECURITY_TOKEN"):
        raise AliyunError("NoPermission")  # STS tokens are not issued here (aliyun-wire §2.4)
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header.startswith(ACS3 + " "):
        return _acs3(request, body, header)
    query = query_pairs(request.META.get("QUERY_STRING", ""))
    if not header and any(key == "Signature" for key, _ in query):
        return _v2(query, form)
    raise AliyunError("NoPermission")


def _fresh(stamp: str) -> None:
    try:
        signed_at = datetime.strptime(stamp, DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise AliyunError("NoPermission") from None
    if abs(timezone.now().timestamp() - signed_at.timestamp()) > MAX_CLOCK_SKEW:
        raise AliyunError("NoPermission")


def _app(access_key_id: str) -> EngineApp:
    app = EngineApp.objects.filter(api_key=access_key_id).first() if access_key_id else None
    if app is None:
        raise AliyunError("NoPermission")
    return app


def _acs3(request: HttpRequest, body: bytes, header: str) -> EngineApp:
    fields: dict[str, str] = {}
    for part in header[len(ACS3) + 1 :].split(","):
        key, _, value = part.strip().partition("=")
        fields[key] = value
    names = [name for name in fields.get("SignedHeaders", "").split(";") if name]
    if not _ACS3_REQUIRED_SIGNED.issubset(names) or names != [n.lower() for n in names]:
        raise AliyunError("NoPermission")
    headers: dict[str, str] = {}
    for name in names:
        received = _header(request, name)
        if received is None:
            raise AliyunError("NoPermission")
        headers[name] = received
    body_sha256 = hashlib.sha256(body).hexdigest()
    if not hmac.compare_digest(headers["x-acs-content-sha256"].strip(), body_sha256):
        raise AliyunError("NoPermission")
    _fresh(headers["x-acs-date"].strip())
    app = _app(fields.get("Credential", ""))
    canonical = acs3_canonical_request(
        method=request.method or "",
        path=request.path,
        query=query_pairs(request.META.get("QUERY_STRING", "")),
        headers=headers,
        body_sha256=body_sha256,
    )
    if not hmac.compare_digest(
        acs3_signature(app.secret_key, canonical), fields.get("Signature", "")
    ):
        raise AliyunError("NoPermission")
    return app


def _v2(query: list[tuple[str, str]], form: list[tuple[str, str]]) -> EngineApp:
    values = dict(query)
    if (values.get("SignatureMethod"), values.get("SignatureVersion")) != (V2_METHOD, V2_VERSION):
        raise AliyunError("NoPermission")
    _fresh(values.get("Timestamp", ""))
    app = _app(values.get("AccessKeyId", ""))
    signed = [(k, v) for k, v in query if k != "Signature"] + form
    if not hmac.compare_digest(v2_signature(app.secret_key, signed), values["Signature"]):
        raise AliyunError("NoPermission")
    return app


def _header(request: HttpRequest, name: str) -> str | None:
    key = name.upper().replace("-", "_")
    if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        return request.META.get(key)
    return request.META.get("HTTP_" + key)
