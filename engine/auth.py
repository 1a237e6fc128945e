"""Authentication: access tokens (baidu-wire §4.1, §4.2) and bce-auth-v1 signatures (§4.3)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, quote_plus, unquote_plus

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from engine.errors import WireError
from engine.models import EngineApp, EngineToken
from wire.baidu import API_SCOPE

TOKEN_LIFETIME = 2_592_000  # seconds (30 days), the hosted value; the SDK caches by it
# Expired tokens are kept this much longer so that they still answer 111, not 110.
EXPIRED_KEPT = timedelta(days=30)
# Seconds a signature's timestamp may lie in the future (baidu-wire §4.3 step 3).
CLOCK_SKEW = 300
# The longest `expiration` a signature may claim (baidu-wire §4.3 step 3): the Python and Node
# SDKs and searchapi.baidu always sign 1800, and a longer claim would only stretch how long a
# captured call can be replayed.
MAX_SIGNATURE_EXPIRATION = 1800
# The Node SDK glues its marker onto the token: `access_token=<token>?aipSdk=node`
# (baidu-wire §11.10). Only this exact tail is cut; what remains must be a token we issued.
_SDK_TOKEN_TAIL = re.compile(r"\?aipSdk=[a-z]+\Z")
# Without these two a captured call could be replayed at another host or another time.
_REQUIRED_SIGNED = frozenset({"host", "x-bce-date"})


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    refresh_token: str
    session_key: str
    session_secret: str
    scope: str


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_issue(app: EngineApp) -> IssuedToken:
    """Issue and persist a new token; earlier ones stay valid until they expire."""
    now = timezone.now()
    epoch = int(now.timestamp())
    access = f"24.{secrets.token_hex(16)}.{TOKEN_LIFETIME}.{epoch}.{_digits(6)}-{app.app_id}"
    refresh = f"25.{secrets.token_hex(16)}.315360000.{epoch}.{_digits(6)}-{app.app_id}"
    EngineToken.objects.filter(expires_at__lt=now - EXPIRED_KEPT).delete()
    EngineToken.objects.create(
        app=app,
        digest=digest(access),
        issued_at=now,
        expires_at=now + timedelta(seconds=TOKEN_LIFETIME),
    )
    # Without brain_all_scope the official SDK signs every later call (baidu-wire §4.1, §11.5).
    scope = "public" if app.signing_only else f"public {API_SCOPE}"
    return IssuedToken(
        access_token=access,
        refresh_token=refresh,
        session_key=secrets.token_urlsafe(24),
        session_secret=secrets.token_hex(16),
        scope=scope,
    )


def _digits(n: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(n))


def authenticate(request: HttpRequest) -> EngineApp:
    """The application a wire call comes from, or WireError 100 / 110 / 111 / 14."""
    if "access_token" in request.GET:  # method 1 wins even if a signature is also present
        return _by_token(_SDK_TOKEN_TAIL.sub("", request.GET["access_token"]))
    header = request.META.get("HTTP_AUTHORIZATION")
    if header is None:
        raise WireError(100)
    return _by_signature(request, header)


def _by_token(token: str) -> EngineApp:
    if not token:
        raise WireError(100)
    row = EngineToken.objects.select_related("app").filter(digest=digest(token)).first()
    if row is None:
        raise WireError(110)
    if row.expires_at <= timezone.now():
        raise WireError(111)
    return row.app


def _by_signature(request: HttpRequest, header: str) -> EngineApp:
    parts = header.strip().split("/")
    if len(parts) != 6 or parts[0] != "bce-auth-v1":
        raise WireError(14)
    _, access_key, timestamp, expiration, signed_headers, signature = parts
    app = EngineApp.objects.filter(api_key=access_key).first() if access_key else None
    if app is None:
        raise WireError(14)
    try:
        signed_at = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        lifetime = int(expiration)
    except ValueError:
        raise WireError(14) from None
    if lifetime > MAX_SIGNATURE_EXPIRATION:
        raise WireError(14)
    now = timezone.now().timestamp()
    if not signed_at.timestamp() - CLOCK_SKEW <= now <= signed_at.timestamp() + lifetime:
        raise WireError(14)

    names = signed_headers.split(";")
    if not _REQUIRED_SIGNED.issubset(name.strip().lower() for name in names):
        raise WireError(14)
    hosts = _host_candidates(request.META.get("HTTP_HOST", ""))
    for host in hosts:
        headers = {}
        for name in names:
            value = host if name.strip().lower() == "host" else _header(request, name)
            if value is None:
                raise WireError(14)
            headers[name] = value
        expected = signature_for(
            secret_key=app.secret_key,
            auth_prefix=f"bce-auth-v1/{access_key}/{timestamp}/{expiration}",
            method=request.method or "",
            path=request.path,
            query=request.META.get("QUERY_STRING", ""),
            headers=headers,
        )
        if hmac.compare_digest(expected, signature):
            return app
    raise WireError(14)


def _host_candidates(host: str) -> list[str]:
    """Host as received, then without a port: the SDK signs the bare hostname, and a
    reverse proxy may have put the port back (baidu-wire §4.3); then the operator's
    ENGINE_SIGNED_HOSTS."""
    candidates = [host]
    head, sep, port = host.rpartition(":")
    if sep and port.isdigit() and (not head.startswith("[") or head.endswith("]")):
        candidates.append(head)
        if head.startswith("[") and head.endswith("]"):
            candidates.append(head[1:-1])  # the SDK sends urlparse().hostname: no brackets
    return candidates + [name for name in settings.ENGINE_SIGNED_HOSTS if name not in candidates]


def _header(request: HttpRequest, name: str) -> str | None:
    key = name.strip().upper().replace("-", "_")
    if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        return request.META.get(key)
    return request.META.get("HTTP_" + key)


def signature_for(
    *,
    secret_key: str,
    auth_prefix: str,
    method: str,
    path: str,
    query: str,
    headers: dict[str, str],
) -> str:
    """The bce-auth-v1 signature exactly as the official Python SDK computes it
    (baidu-wire §4.3)."""
    signing_key = hmac.new(secret_key.encode(), auth_prefix.encode(), hashlib.sha256).hexdigest()
    pairs = []
    for item in query.split("&"):
        if not item:
            continue
        key, _, value = item.partition("=")
        pairs.append(
            quote_plus(unquote_plus(key), safe="") + "=" + quote_plus(unquote_plus(value), safe="")
        )
    canonical_headers = sorted(
        quote(name.strip(), safe="").lower() + ":" + quote(value.strip(), safe="")
        for name, value in headers.items()
    )
    canonical = "\n".join(
        [method.upper(), quote(path), "&".join(sorted(pairs)), "\n".join(canonical_headers)]
    )
    return hmac.new(signing_key.encode(), canonical.encode(), hashlib.sha256).hexdigest()
