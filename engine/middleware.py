"""Keep the wire JSON even when Django itself answers before the engine's views run.

Example: a signed call whose `Host` is not in ALLOWED_HOSTS makes CommonMiddleware answer an
HTML 400, which the official SDK cannot parse (it raises JSONDecodeError, baidu-wire §11.3).
Placed first in MIDDLEWARE, this turns any non-JSON answer on a wire path into the wire's JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from engine.aliyun.errors import AliyunError
from engine.aliyun.middleware import is_aliyun_call
from engine.aliyun.views import error_response as aliyun_error
from engine.aliyun.views import new_request_id
from engine.errors import WireError
from engine.http import error_response, new_log_id, oauth_error
from wire.baidu import API_ROOT, OAUTH_ROOT

log = logging.getLogger(__name__)


class WireJsonMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        path = request.path_info
        aliyun = is_aliyun_call(request)
        if not aliyun and not path.startswith((API_ROOT, OAUTH_ROOT)):
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        log.warning(
            "engine: %s %s answered %s outside the engine; sent as JSON",
            request.method,
            path,
            response.status_code,
        )
        if aliyun:
            code = "BadRequest" if 400 <= response.status_code < 500 else "UnknownException"
            return aliyun_error(new_request_id(), AliyunError(code))
        if path.startswith(OAUTH_ROOT):
            return oauth_error(
                "invalid_request", f"HTTP {response.status_code}", max(400, response.status_code)
            )
        return error_response(new_log_id(), WireError(282000))
