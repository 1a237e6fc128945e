"""Keep the wire JSON even when Django itself answers before the engine's views run.

Example: a signed call whose `Host` is not in ALLOWED_HOSTS makes CommonMiddleware answer an
HTML 400, which the official SDK cannot parse (it raises JSONDecodeError, spec §11.3). Placed
first in MIDDLEWARE, this turns any non-JSON answer on a wire path into the wire's JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from engine.errors import WireError
from engine.views import CONTENT_TYPE, error_response, new_log_id

log = logging.getLogger(__name__)

API_PREFIX = "/rest/2.0/"
OAUTH_PREFIX = "/oauth/2.0/"


class WireJsonMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        path = request.path_info
        if not path.startswith((API_PREFIX, OAUTH_PREFIX)):
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        log.warning(
            "engine: %s %s answered %s outside the engine; sent as JSON",
            request.method,
            path,
            response.status_code,
        )
        if path.startswith(OAUTH_PREFIX):
            return JsonResponse(
                {"error": "invalid_request", "error_description": f"HTTP {response.status_code}"},
                status=max(400, response.status_code),
                content_type=CONTENT_TYPE,
            )
        return error_response(new_log_id(), WireError(282000))
