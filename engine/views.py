"""The wire: Baidu Image Search's token endpoint and API paths (baidu-wire §2-§8).

Every API answer is HTTP 200 JSON with a `log_id`; checks run in the order of baidu-wire §8.2
and the first failing one decides the error. Token errors are OAuth-style with their statuses.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import OperationalError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from engine import fetch, params, store, throttle
from engine.auth import TOKEN_LIFETIME, authenticate, token_issue
from engine.errors import WireError
from engine.features.decode import Decoded, ImageRejected, decode
from engine.features.extract import Features, extract
from engine.http import error_response, json_response, new_log_id, oauth_error
from engine.models import EngineApp, EngineLibrary
from engine.params import Params
from engine.search import library_search
from engine.vectors import Filter
from wire.baidu import fits

log = logging.getLogger(__name__)

SLOW_SECONDS = 1.0


# ---------------------------------------------------------------------------- token


@csrf_exempt
def token(request: HttpRequest) -> JsonResponse:
    """`/oauth/2.0/token`: GET with a query, or POST with a query and/or a form body."""
    try:
        return _token(request)
    except Exception:
        log.exception("engine token endpoint failed")
        return oauth_error("server_error", "internal error", 500)


def _token(request: HttpRequest) -> JsonResponse:
    if request.method not in ("GET", "POST"):
        return oauth_error("invalid_request", "method not allowed", 405)
    values = {key: request.GET[key] for key in request.GET}
    if request.method == "POST":
        try:
            form = params.parse_body(request.META.get("CONTENT_TYPE", ""), request.body)
        except (WireError, RequestDataTooBig):
            form = Params([])
        for key in ("grant_type", "client_id", "client_secret"):
            if form.raw(key):
                values[key] = form.raw(key).decode("utf-8", "replace")
    if values.get("grant_type") != "client_credentials":
        return oauth_error(
            "unsupported_grant_type", "The authorization grant type is not supported", 400
        )
    client_id = values.get("client_id", "")
    app = EngineApp.objects.filter(api_key=client_id).first() if client_id else None
    if app is None:
        return oauth_error("invalid_client", "unknown client id", 401)
    if not secrets.compare_digest(
        values.get("client_secret", "").encode(), app.secret_key.encode()
    ):
        return oauth_error("invalid_client", "Client authentication failed", 401)
    issued = token_issue(app)
    return json_response(
        {
            "refresh_token": issued.refresh_token,
            "expires_in": TOKEN_LIFETIME,
            "session_key": issued.session_key,
            "access_token": issued.access_token,
            "scope": issued.scope,
            "session_secret": issued.session_secret,
        }
    )


# ---------------------------------------------------------------------------- API


def _read_body(request: HttpRequest) -> bytes | None:
    """The whole body, None if over DATA_UPLOAD_MAX_MEMORY_SIZE.

    Read before any check can fail: a body left unread on a keep-alive connection makes the
    server close it after the answer, and a client that already sent its next request on
    that connection sees it dropped (the SDK keeps connections alive).
    """
    try:
        return request.body
    except RequestDataTooBig:
        return None


@csrf_exempt
def unsupported(request: HttpRequest) -> JsonResponse:
    """Any other path under /rest/2.0/ (baidu-wire §2)."""
    _read_body(request)
    return error_response(new_log_id(), WireError(3))


@csrf_exempt
def api(request: HttpRequest, service: str, op: str) -> JsonResponse:
    log_id = new_log_id()
    started = time.monotonic()
    outcome = "ok"
    try:
        answer = _api(request, service, op, _read_body(request))
        return json_response({"log_id": log_id, **answer})
    except WireError as error:
        outcome = str(error.code)
        return error_response(log_id, error)
    except OperationalError:
        # The database is unreachable or locked past its timeout: retrying can help.
        outcome = "2"
        log.exception("engine %s/%s: database unavailable (log_id %s)", service, op, log_id)
        return error_response(log_id, WireError(2))
    except throttle.Unavailable as exc:
        # Redis is down. Admitting blind would break the QPS promise and 282000 would call it
        # our bug; 2 is the code Baidu documents for "retry later" (baidu-wire §9).
        outcome = "2"
        log.warning(
            "engine %s/%s: QPS window unavailable (log_id %s): %s", service, op, log_id, exc
        )
        return error_response(log_id, WireError(2))
    except Exception:
        outcome = "282000"
        log.exception("engine %s/%s failed (log_id %s)", service, op, log_id)
        return error_response(log_id, WireError(282000))
    finally:
        elapsed = time.monotonic() - started
        if elapsed > SLOW_SECONDS:
            log.info(
                "engine %s/%s slow: %s in %.2fs (log_id %s)", service, op, outcome, elapsed, log_id
            )


def _api(request: HttpRequest, service: str, op: str, body: bytes | None) -> dict[str, Any]:
    if request.method != "POST":  # 1. path and method
        raise WireError(3)
    app = authenticate(request)  # 2.
    if service not in app.services:  # 3.
        raise WireError(6)
    if not throttle.admit(f"{app.app_id}.{service}.{op}", app.qps):  # 4.
        raise WireError(18)
    library = EngineLibrary.objects.filter(app=app, service=service).first()  # 5.
    if library is None:
        raise WireError(216017)
    if body is None:
        raise WireError(216202)  # only an oversized image makes a body this large
    call = Call(
        library=library,
        service=service,
        params=params.parse_body(request.META.get("CONTENT_TYPE", ""), body),
    )
    return OPERATIONS[op](call)


@dataclass
class Call:
    library: EngineLibrary
    service: str
    params: Params

    def selector(self, *, by_sign: bool) -> str:
        """6. Which selector is in use: image > url (> cont_sign), or 216101."""
        if self.params.sent("image"):
            return "image"
        if self.params.sent("url"):
            return "url"
        if by_sign and self.params.raw("cont_sign"):
            return "cont_sign"
        raise WireError(216101)

    def labels(self, *, search: bool) -> tuple[tuple[int, ...] | None, int, int | None, int | None]:
        """7. tags, tag_logic, class_id1, class_id2 in that order, for this service."""
        p = self.params
        tags = None if self.service == "product" else params.tags(p.get("tags"))
        logic = params.tag_logic(p.get("tag_logic")) if search else 0
        if self.service != "product":
            return tags, logic, None, None
        return tags, logic, params.class_id(p.get("class_id1")), params.class_id(p.get("class_id2"))

    def data(self, selector: str) -> bytes:
        """8., 9. (first part): the file bytes from `url` or `image`."""
        if selector == "url":
            url = self.params.get("url") or ""
            fetch.check(url)
            data = fetch.fetch(url)
            if not data:
                raise WireError(216200)
            return data
        return params.image_bytes(self.params.raw("image"))

    def decoded(self, data: bytes) -> Decoded:
        """9. Format and pixel limits."""
        try:
            image = decode(data)
        except ImageRejected as rejected:
            raise WireError(rejected.error_code, rejected.error_msg) from None
        if not fits(self.service, image.width, image.height):
            raise WireError(216202)
        return image

    def features(self, image: Decoded, *, for_query: bool) -> Features:
        """10. Feature extraction."""
        try:
            return extract(self.service, image, for_query=for_query)
        except ImageRejected as rejected:
            raise WireError(rejected.error_code, rejected.error_msg) from None


def _add(call: Call) -> dict[str, Any]:
    selector = call.selector(by_sign=False)
    if not call.params.raw("brief"):
        raise WireError(216101)
    brief = params.brief(call.params.get("brief"))
    tags, _, class_id1, class_id2 = call.labels(search=False)
    data = call.data(selector)
    image = call.decoded(data)
    features = call.features(image, for_query=False)
    sign = params.cont_sign_of(data)
    store.entry_add(
        library=call.library,
        data=data,
        image=image,
        features=features,
        brief=brief or "",
        labels=store.Labels(tags=tags, class_id1=class_id1, class_id2=class_id2),
        cont_sign=sign,
    )
    return {"cont_sign": sign}


def _search(call: Call) -> dict[str, Any]:
    selector = call.selector(by_sign=False)
    tags, logic, class_id1, class_id2 = call.labels(search=True)
    pn = params.pn(call.params.get("pn"))
    rn = params.rn(call.params.get("rn"))
    data = call.data(selector)
    features = call.features(call.decoded(data), for_query=True)
    page = library_search(
        library=call.library,
        query=features,
        cont_sign=params.cont_sign_of(data),
        flt=Filter(tags=tags or (), tag_logic=logic, class_id1=class_id1, class_id2=class_id2),
        pn=pn,
        rn=rn,
    )
    return {
        "result_num": len(page.hits),
        "result": [
            {"cont_sign": h.cont_sign, "score": h.score, "brief": h.brief} for h in page.hits
        ],
        "has_more": page.has_more,
    }


def _targets(call: Call, selector: str, batch: bool) -> tuple[list[str], Decoded | None]:
    """The cont_signs an update or delete aims at (8., 9.), and the decoded image if any."""
    if selector == "cont_sign":
        value = call.params.get("cont_sign") or ""
        signs = params.cont_sign_batch(value) if batch else [params.cont_sign_single(value)]
        return signs, None
    data = call.data(selector)
    return [params.cont_sign_of(data)], call.decoded(data)


def _missing(call: Call, image: Decoded | None) -> WireError:
    """11. 216680, unless step 10 would have failed first for an image we never stored.

    Extraction is deterministic and succeeded when the image was added, so it only needs
    to run when the target is absent, to decide between 216203 and 216680.
    """
    if image is not None:
        call.features(image, for_query=False)
    return WireError(216680)


def _update(call: Call) -> dict[str, Any]:
    selector = call.selector(by_sign=True)
    brief = params.brief(call.params.get("brief"))
    tags, _, class_id1, class_id2 = call.labels(search=False)
    signs, image = _targets(call, selector, batch=False)
    try:
        store.entry_update(
            library=call.library,
            cont_sign=signs[0],
            brief=brief,
            labels=store.Labels(tags=tags, class_id1=class_id1, class_id2=class_id2),
        )
    except WireError as error:
        raise _missing(call, image) if error.code == 216680 else error from None
    return {}


def _delete(call: Call) -> dict[str, Any]:
    selector = call.selector(by_sign=True)
    signs, image = _targets(call, selector, batch=True)
    try:
        store.entries_delete(library=call.library, cont_signs=signs)
    except WireError as error:
        raise _missing(call, image) if error.code == 216680 else error from None
    return {}


OPERATIONS: dict[str, Callable[[Call], dict[str, Any]]] = {
    "add": _add,
    "search": _search,
    "update": _update,
    "delete": _delete,
}
