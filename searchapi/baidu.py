"""Client for Baidu's Image Search REST API, spoken identically to the hosted service and to the
Tuku engine (the wire contract: docs/baidu-wire.md; its values: ``wire.baidu``).

Every failure surfaces as one exception type, :class:`BaiduError`, whose ``retryable`` says
whether repeating the same call can succeed. Nothing from ``requests`` escapes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

import requests

from searchapi.errors import ApiError
from searchapi.throttle import MemoryRateLimiter, RateLimiter
from searchapi.transport import failure_text
from wire import forms
from wire.baidu import (
    API_PATHS,
    API_SCOPE,
    BRIEF_TOO_LONG,
    MAX_BRIEF_BYTES,
    MAX_DELETE_BATCH,
    MAX_IMAGE_BASE64,
    MAX_LABEL,
    MAX_TAGS,
    MAX_URL_BYTES,
    MESSAGES,
    PAGE_WINDOW,
    RETRYABLE_CODES,
    SERVICES,
    TOKEN_PATH,
    cont_sign_parts,
)

log = logging.getLogger(__name__)

QPS_TRIES = 5  # attempts in total when the server answers 18
TOKEN_MARGIN_S = 60.0  # renew this long before expires_in runs out
_SECRET_IN_TEXT = re.compile(r"((?:access_token|client_secret)=)[^&\s'\"]+")


@dataclass(frozen=True)
class Credentials:
    """One application's keys. The Secret Key never appears in the repr."""

    app_id: str
    api_key: str
    secret_key: str = field(repr=False)


class BaiduError(ApiError):
    """A failed call of the Baidu wire; ``retryable`` defaults to what its code documents."""

    def __init__(
        self,
        error_code: int | str,
        error_msg: str,
        *,
        retryable: bool | None = None,
        log_id: int | None = None,
    ) -> None:
        if retryable is None:
            retryable = error_code in RETRYABLE_CODES
        super().__init__(error_code, error_msg, retryable=retryable, log_id=log_id)


class _OAuthError(BaiduError):
    """The token endpoint refused the credentials: the cue to switch to signing."""


@dataclass(frozen=True)
class SearchHit:
    cont_sign: str
    score: float
    brief: str


@dataclass(frozen=True)
class SearchPage:
    hits: list[SearchHit]
    has_more: bool
    log_id: int | None


@dataclass(frozen=True)
class CallRecord:
    """One HTTP exchange on an API path (token fetches excluded); error_code None = success.

    ``retried``: the client sent the operation again after this answer (a QPS limit it backed
    off from, or a stale token it renewed), so the answer was not the operation's outcome.
    ``qps_retries``: how many QPS-limit answers the operation had before this exchange."""

    service: str
    operation: str
    error_code: int | str | None
    error_msg: str
    latency_ms: float
    log_id: int | None
    retried: bool = False
    qps_retries: int = 0


def sign_request(
    method: str,
    url: str,
    *,
    access_key: str,
    secret_key: str,
    timestamp: datetime,
    expiration: int = 1800,
) -> dict[str, str]:
    """Return the ``Host``, ``x-bce-date`` and ``authorization`` headers that authenticate
    ``method url`` by bce-auth-v1 exactly as the official Python SDK computes them
    (baidu-wire §4.3).

    ``Host`` is the URL's host name without the port; the body is not signed. Pure: the same
    inputs always give the same headers.
    """
    if timestamp.tzinfo is None:
        raise ValueError("timestamp must be timezone-aware")
    parts = urlsplit(url)
    headers = {
        "Host": parts.hostname or "",
        "x-bce-date": timestamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    prefix = f"bce-auth-v1/{access_key}/{headers['x-bce-date']}/{expiration}"
    signing_key = hmac.new(secret_key.encode(), prefix.encode(), hashlib.sha256).hexdigest()
    query = sorted(
        f"{quote_plus(k, safe='')}={quote_plus(v, safe='')}"
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    )
    canonical_headers = sorted(
        f"{quote(k.strip(), safe='').lower()}:{quote(v.strip(), safe='')}"
        for k, v in headers.items()
    )
    canonical_request = "\n".join(
        [method.upper(), quote(parts.path), "&".join(query), "\n".join(canonical_headers)]
    )
    signature = hmac.new(
        signing_key.encode(), canonical_request.encode(), hashlib.sha256
    ).hexdigest()
    signed = ";".join(headers).lower()  # the SDK's insertion order, not sorted
    headers["authorization"] = f"{prefix}/{signed}/{signature}"
    return headers


@dataclass(frozen=True)
class _Token:
    value: str = field(repr=False)
    scoped: bool  # scope holds brain_all_scope; without it the SDK (and "auto") signs instead
    expires_at: float


# Tokens are shared by every client of one application in this process, so that short-lived
# clients (one per task) do not fetch a token per call. One lock per application lets a slow
# token endpoint for one application not block the others, and makes concurrent callers wait
# for a single fetch instead of each fetching their own.
_tokens: dict[tuple[str, str, str], _Token] = {}
_token_locks: dict[tuple[str, str, str], threading.Lock] = {}
_default_limiter = MemoryRateLimiter()


class BaiduClient:
    """Speaks the four operations of the five services for one application.

    Safe to share between threads. ``limiter`` defaults to one limiter per process; pass a
    :class:`~searchapi.throttle.FileRateLimiter` or ``RedisRateLimiter`` (with ``limiter_key``
    naming the application) to share the QPS budget between processes.
    """

    def __init__(
        self,
        *,
        base_url: str,
        credentials: Credentials,
        auth_mode: Literal["auto", "token", "sign"] = "auto",
        qps: int = 10,
        limiter: RateLimiter | None = None,
        limiter_key: str = "",
        timeout: tuple[float, float] = (5.0, 30.0),
        session: requests.Session | None = None,
        on_call: Callable[[CallRecord], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("base_url must be an absolute http(s) URL")
        if auth_mode not in ("auto", "token", "sign"):
            raise ValueError(f"unknown auth_mode {auth_mode!r}")
        if qps < 0:
            raise ValueError(f"qps must be >= 0, got {qps}")
        self._base_url = base_url.rstrip("/")
        self._credentials = credentials
        self._auth_mode = auth_mode
        self._signing = auth_mode == "sign"
        self._qps = qps
        self._limiter = limiter or _default_limiter
        self._limiter_key = limiter_key or credentials.api_key
        self._timeout = timeout
        self._session = session or requests.Session()
        self._on_call = on_call
        self._sleep = sleep
        self._clock = clock
        secret_hash = hashlib.sha256(credentials.secret_key.encode()).hexdigest()
        self._token_key = (self._base_url, credentials.api_key, secret_hash)

    def __repr__(self) -> str:
        return (
            f"BaiduClient(base_url={self._base_url!r}, app_id={self._credentials.app_id!r}, "
            f"auth_mode={self._auth_mode!r})"
        )

    # -- authentication ------------------------------------------------------------------

    def fetch_token(self) -> str:
        """Fetch a fresh access token, cache it, and return it.

        Raises BaiduError with the OAuth ``error`` (e.g. ``"invalid_client"``, not retryable)
        when the token endpoint refuses the credentials.
        """
        return self._fetch_token().value

    def detect_auth_mode(self) -> Literal["token", "sign"]:
        """Decide how this application authenticates, as the console does on saving it.

        A token with ``brain_all_scope`` → "token"; a token without it → "sign". If the token
        endpoint refuses the credentials, one signed probe (a search on same_hq with no
        parameters) decides: any answer but 14 means the signature was accepted → "sign";
        14 raises BaiduError(14, "IAM Certification failed").
        """
        try:
            token = self._fetch_token()
        except _OAuthError:
            body = self._post("same_hq", "search", {}, token=None)
            if "error_code" in body and _code(body["error_code"]) == 14:
                raise BaiduError(14, MESSAGES[14], log_id=_log_id(body)) from None
            if self._auth_mode == "auto":
                self._signing = True
            return "sign"
        return "token" if token.scoped else "sign"

    def _fetch_token(self) -> _Token:
        started = time.perf_counter()
        params = {
            "grant_type": "client_credentials",
            "client_id": self._credentials.api_key,
            "client_secret": self._credentials.secret_key,
        }
        try:
            body = self._exchange("GET", self._base_url + TOKEN_PATH, params=params)
            if "error" in body:
                raise _OAuthError(
                    str(body["error"]), str(body.get("error_description", "")), retryable=False
                )
            if "error_code" in body:
                raise _wire_error(body)
            value = body.get("access_token")
            if not isinstance(value, str) or not value:
                raise BaiduError(
                    "bad_response", "token response without access_token", retryable=True
                )
        except BaiduError as exc:
            log.debug("baidu token code=%s %.0f ms", exc.error_code, _ms_since(started))
            raise
        log.debug("baidu token ok %.0f ms", _ms_since(started))
        try:
            expires_in = float(body.get("expires_in", 0))
        except (TypeError, ValueError):
            expires_in = 0.0  # without a lifetime, like the SDK, fetch again before the next call
        scope = body.get("scope")
        token = _Token(
            value=value,
            scoped=isinstance(scope, str) and API_SCOPE in scope.split(" "),
            expires_at=self._clock() + expires_in - TOKEN_MARGIN_S,
        )
        _tokens[self._token_key] = token
        return token

    def _auth(self, stale: str | None = None) -> str | None:
        """The access token for the next call, or None when this client signs instead.

        ``stale`` is a token the server just rejected (110/111): it is replaced unless another
        thread has replaced it already.
        """
        if self._signing:
            return None
        # setdefault is atomic under the GIL, so all threads get the same lock per application.
        with _token_locks.setdefault(self._token_key, threading.Lock()):
            token = _tokens.get(self._token_key)
            if token is None or token.value == stale or self._clock() >= token.expires_at:
                try:
                    token = self._fetch_token()
                except _OAuthError:
                    if self._auth_mode == "token":
                        raise
                    token = None
        if self._auth_mode == "auto" and (token is None or not token.scoped):
            # As the official SDK: refused credentials or a token without brain_all_scope
            # mean this application authenticates by signature from now on.
            self._signing = True
            return None
        return token.value if token else None

    # -- transport -----------------------------------------------------------------------

    def _exchange(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        """One HTTP exchange whose body is a JSON object; everything else is a BaiduError."""
        try:
            # Never follow a redirect: it could lead the server into its own network, and
            # the service itself never redirects an API call.
            response = self._session.request(
                method, url, timeout=self._timeout, allow_redirects=False, **kwargs
            )
        # `from None` everywhere: the requests exception's text (kept here only redacted)
        # carries the URL, and with it the access token or the client secret.
        except requests.Timeout as exc:
            raise BaiduError("timeout", _describe(exc), retryable=True) from None
        except requests.exceptions.SSLError as exc:
            # A certificate that does not verify will not verify on the next try either.
            raise BaiduError("tls", _describe(exc), retryable=False) from None
        except requests.RequestException as exc:
            raise BaiduError("connection", _describe(exc), retryable=True) from None
        if response.is_redirect:
            msg = f"HTTP {response.status_code}: the backend redirected the call; not followed"
            raise BaiduError("redirect", msg, retryable=False)
        try:
            body = json.loads(response.content)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            # A proxy or load balancer answering in HTML; the service itself always sends JSON.
            msg = f"HTTP {response.status_code}: body is not a JSON object"
            raise BaiduError("bad_response", msg, retryable=True)
        return body

    def _post(
        self,
        service: str,
        operation: str,
        form: Mapping[str, str],
        token: str | None,
        *,
        retry_on: frozenset[int | str] = frozenset(),
        qps_retries: int = 0,
    ) -> dict[str, Any]:
        """Throttle, authenticate and send one API call; return its body, error or not.

        ``retry_on``: the codes the caller will answer by sending the call again, recorded as
        retried rather than as the operation's outcome."""
        url = self._base_url + API_PATHS[service] + operation
        self._limiter.acquire(self._limiter_key, self._qps)
        # Set even for an empty form (the auth probe), which requests would send untyped.
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if token is None:
            headers |= sign_request(
                "POST",
                url,
                access_key=self._credentials.api_key,
                secret_key=self._credentials.secret_key,
                timestamp=datetime.now(UTC),
            )
            params = {}
        else:
            params = {"access_token": token}
        started = time.perf_counter()
        try:
            encoded = forms.urlencode(form.items())  # a str, as requests makes of a dict
            body = self._exchange("POST", url, params=params, data=encoded, headers=headers)
        except BaiduError as exc:
            self._record(
                CallRecord(
                    service, operation, exc.error_code, exc.error_msg, 0.0, None, False, qps_retries
                ),
                started,
            )
            raise
        code = _code(body["error_code"]) if "error_code" in body else None
        msg = str(body.get("error_msg", "")) if code is not None else ""
        retried = code is not None and code in retry_on
        self._record(
            CallRecord(service, operation, code, msg, 0.0, _log_id(body), retried, qps_retries),
            started,
        )
        return body

    def _record(self, call: CallRecord, started: float) -> None:
        """Log one exchange and hand it to ``on_call``, its latency measured from ``started``."""
        call = replace(call, latency_ms=_ms_since(started))
        log.debug(
            "baidu %s/%s code=%s %.0f ms log_id=%s retried=%s",
            call.service,
            call.operation,
            call.error_code,
            call.latency_ms,
            call.log_id,
            call.retried,
        )
        if self._on_call:
            self._on_call(call)

    def _call(self, service: str, operation: str, form: Mapping[str, str]) -> dict[str, Any]:
        """Send one operation; refresh the token once on 110/111 and back off on 18."""
        token = self._auth()
        refreshed, qps_tries, delay = False, 0, 1.0
        while True:
            # Decided before sending, so that the call log knows which answers were retried.
            retry_on: set[int | str] = set()
            if token is not None and not refreshed:
                retry_on |= {110, 111}
            if qps_tries + 1 < QPS_TRIES:
                retry_on.add(18)
            body = self._post(
                service,
                operation,
                form,
                token,
                retry_on=frozenset(retry_on),
                qps_retries=qps_tries,
            )
            if "error_code" not in body:
                return body
            code = _code(body["error_code"])
            if code not in retry_on:
                raise _wire_error(body)
            if code == 18:
                qps_tries += 1
                self._sleep(delay)
                delay *= 2
            else:
                refreshed = True
                token = self._auth(stale=token)

    # -- operations ----------------------------------------------------------------------

    def add(
        self,
        service: str,
        *,
        image: bytes | None = None,
        url: str | None = None,
        brief: str,
        tags: Sequence[int] = (),
        class_id1: int | None = None,
        class_id2: int | None = None,
    ) -> str:
        """Store one image (by ``image`` bytes or ``url``; image wins) and return its cont_sign."""
        form = _form(
            service,
            image=image,
            url=url,
            brief=brief,
            brief_required=True,
            tags=tags,
            class_id1=class_id1,
            class_id2=class_id2,
        )
        cont_sign = self._call(service, "add", form).get("cont_sign")
        if not isinstance(cont_sign, str):
            raise BaiduError("bad_response", "add answered without cont_sign", retryable=True)
        return cont_sign

    def search(
        self,
        service: str,
        *,
        image: bytes | None = None,
        url: str | None = None,
        tags: Sequence[int] = (),
        tag_logic: int | None = None,
        class_id1: int | None = None,
        class_id2: int | None = None,
        pn: int | None = None,
        rn: int | None = None,
    ) -> SearchPage:
        """Search with ``image`` or ``url`` (image wins); None leaves a filter at its default."""
        form = _form(
            service,
            image=image,
            url=url,
            tags=tags,
            tag_logic=tag_logic,
            class_id1=class_id1,
            class_id2=class_id2,
            pn=pn,
            rn=rn,
        )
        body = self._call(service, "search", form)
        try:
            hits = [_hit(item) for item in body.get("result", [])]
        except (TypeError, KeyError):
            raise BaiduError("bad_response", "malformed search result", retryable=True) from None
        return SearchPage(hits=hits, has_more=body.get("has_more") is True, log_id=_log_id(body))

    def update(
        self,
        service: str,
        *,
        image: bytes | None = None,
        url: str | None = None,
        cont_sign: str | None = None,
        brief: str | None = None,
        tags: Sequence[int] | None = None,
        class_id1: int | None = None,
        class_id2: int | None = None,
    ) -> None:
        """Replace the given fields of one stored image, found by image > url > cont_sign.

        None (and, as on the wire, an empty brief or tags) leaves a field unchanged.
        """
        form = _form(
            service,
            image=image,
            url=url,
            cont_signs=[cont_sign] if cont_sign is not None else [],
            brief=brief,
            tags=tags or (),
            class_id1=class_id1,
            class_id2=class_id2,
        )
        self._call(service, "update", form)

    def delete(
        self,
        service: str,
        *,
        image: bytes | None = None,
        url: str | None = None,
        cont_signs: Sequence[str] = (),
    ) -> None:
        """Delete by image > url > cont_signs. Succeeds if at least one target existed.

        More than 100 cont_signs is a programming error (ValueError): callers chunk, because
        a batch the server refuses (282006) would only hide which images were left behind.
        """
        if isinstance(cont_signs, str):
            raise ValueError("cont_signs must be a sequence of cont_sign strings")
        if len(cont_signs) > MAX_DELETE_BATCH:
            raise ValueError(f"at most {MAX_DELETE_BATCH} cont_signs per delete")
        form = _form(service, image=image, url=url, cont_signs=cont_signs)
        self._call(service, "delete", form)


def _form(
    service: str,
    *,
    image: bytes | None = None,
    url: str | None = None,
    cont_signs: Sequence[str] = (),
    brief: str | None = None,
    brief_required: bool = False,
    tags: Sequence[int] = (),
    tag_logic: int | None = None,
    class_id1: int | None = None,
    class_id2: int | None = None,
    pn: int | None = None,
    rn: int | None = None,
) -> dict[str, str]:
    """Validate the limits of baidu-wire §5 in the server's own order (§8.2) and build the form
    body.

    A value the server would refuse raises BaiduError with the server's code and message, so
    that offline and hosted runs fail alike without spending a call. Fields that belong to
    another service are programming errors (ValueError), not silently dropped.
    """
    if service not in API_PATHS:
        raise ValueError(f"unknown service {service!r}; expected one of {SERVICES}")
    if service == "product" and tags:
        raise ValueError("product takes class_id1/class_id2, not tags")
    if service != "product" and (class_id1 is not None or class_id2 is not None):
        raise ValueError("class_id1/class_id2 belong to product only")
    if image is None and url is None and not cont_signs:
        raise _refused(216101)
    if brief_required and not brief:
        raise _refused(216101)

    form: dict[str, str] = {}
    if brief:
        if len(brief.encode()) > MAX_BRIEF_BYTES:
            raise _refused(216100, BRIEF_TOO_LONG)
        form["brief"] = brief
    if tags:
        if len(tags) > MAX_TAGS or not all(_in_range(t, 1, MAX_LABEL) for t in tags):
            raise _refused(216100)
        form["tags"] = ",".join(str(t) for t in tags)
    checks = [
        ("tag_logic", tag_logic, 0, 1),
        ("class_id1", class_id1, 1, MAX_LABEL),
        ("class_id2", class_id2, 1, MAX_LABEL),
        ("pn", pn, 0, PAGE_WINDOW - 1),
        ("rn", rn, 1, PAGE_WINDOW),
    ]
    for name, value, low, high in checks:
        if value is not None:
            if not _in_range(value, low, high):
                raise _refused(216100)
            form[name] = str(value)

    # One selector is sent, by the server's precedence image > url > cont_sign, so that the
    # ones it would ignore are neither validated nor sent.
    if image is not None:
        if not image:
            raise _refused(216200)
        if 4 * ((len(image) + 2) // 3) > MAX_IMAGE_BASE64:
            raise _refused(216202)
        form["image"] = base64.b64encode(image).decode("ascii")
    elif url is not None:
        if not url or len(url.encode()) > MAX_URL_BYTES:
            raise _refused(282114)
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise _refused(282111)
        form["url"] = url
    else:
        if not all(isinstance(s, str) and cont_sign_parts(s) for s in cont_signs):
            raise _refused(216100)
        form["cont_sign"] = ";".join(cont_signs)
    return form


def _hit(item: Any) -> SearchHit:
    cont_sign, score, brief = item["cont_sign"], item["score"], item["brief"]
    if not isinstance(cont_sign, str) or not isinstance(brief, str) or not _is_number(score):
        raise TypeError
    return SearchHit(cont_sign=cont_sign, score=float(score), brief=brief)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _in_range(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _refused(code: int, msg: str | None = None) -> BaiduError:
    """What the server would answer to a value it refuses, raised without spending a call."""
    return BaiduError(code, MESSAGES[code] if msg is None else msg, retryable=False)


def _code(raw: object) -> int | str:
    """A wire ``error_code`` as an int where it is one, even if sent as decimal text."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    text = str(raw)
    return int(text) if text.isdecimal() else text


def _log_id(body: Mapping[str, Any]) -> int | None:
    raw = body.get("log_id")
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    return int(raw) if isinstance(raw, str) and raw.isdecimal() else None


def _wire_error(body: Mapping[str, Any]) -> BaiduError:
    return BaiduError(
        _code(body["error_code"]), str(body.get("error_msg", "")), log_id=_log_id(body)
    )


def _describe(exc: requests.RequestException) -> str:
    """The words a failed exchange gets (`transport.failure_text`); the log keeps the raw
    exception, its secrets blanked."""
    log.info(
        "baidu exchange failed: %s", _SECRET_IN_TEXT.sub(r"\1***", f"{type(exc).__name__}: {exc}")
    )
    return failure_text(exc)


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
