"""The wire's HTTP answers, shared by the views and the middleware (baidu-wire §3.2)."""

from __future__ import annotations

import itertools
import secrets
import time
from typing import Any

from django.http import JsonResponse

from engine.errors import WireError

CONTENT_TYPE = "application/json;charset=utf-8"
_LOG_EPOCH_MS = 1_577_836_800_000  # 2020-01-01
_log_counter = itertools.count(secrets.randbelow(4096))


def new_log_id() -> int:
    """Unique per request across processes (milliseconds and a counter), below 2**53."""
    millis = int(time.time() * 1000) - _LOG_EPOCH_MS
    return ((millis << 12) | (next(_log_counter) & 0xFFF)) & (2**53 - 1)


def json_response(body: dict[str, Any], status: int = 200) -> JsonResponse:
    return JsonResponse(body, status=status, content_type=CONTENT_TYPE)


def error_response(log_id: int, error: WireError) -> JsonResponse:
    """An API error: HTTP 200 whatever the code, the body alone says it failed."""
    return json_response({"log_id": log_id, "error_code": error.code, "error_msg": error.msg})


def oauth_error(error: str, description: str, status: int) -> JsonResponse:
    """A token-endpoint error, OAuth-style with its HTTP status (baidu-wire §4.1)."""
    return json_response({"error": error, "error_description": description}, status)
