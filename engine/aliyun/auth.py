"""ACS3-HMAC-SHA256 and legacy v2 (HMAC-SHA1) signatures verified (aliyun-wire §2); the
computation itself is ``wire.acs``, shared with the console's client, which signs.

Every failure is the same 403 NoPermission: telling an unknown key from a bad signature would
help nobody but someone guessing keys.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime

from django.http import HttpRequest
from django.utils import timezone

from engine.aliyun.errors import AliyunError
from engine.models import EngineApp
from wire.acs import (
    acs3_canonical_request,
    acs3_signature,
    body_sha256,
    query_pairs,
    v2_signature,
)
from wire.acs import v2_string_to_sign as v2_string_to_sign  # re-exported for the tests
from wire.aliyun import ACS3, DATE_FORMAT, MAX_CLOCK_SKEW, V2_METHOD, V2_VERSION

# Without these a captured call could be replayed with another body, at another time, or as
# another operation.
_ACS3_REQUIRED_SIGNED = frozenset({"host", "x-acs-date", "x-acs-content-sha256", "x-acs-action"})


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
    digest = body_sha256(body)
    if not hmac.compare_digest(headers["x-acs-content-sha256"].strip(), digest):
        raise AliyunError("NoPermission")
    _fresh(headers["x-acs-date"].strip())
    app = _app(fields.get("Credential", ""))
    canonical = acs3_canonical_request(
        method=request.method or "",
        path=request.path,
        query=query_pairs(request.META.get("QUERY_STRING", "")),
        headers=headers,
        body_sha256=digest,
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
