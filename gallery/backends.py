"""Building the wire client for an application: the same code for the engine and for Baidu."""

from __future__ import annotations

import logging
from functools import cache

import requests
from django.conf import settings

from gallery.models import ApiCall, Application
from searchapi.baidu import BaiduClient, CallRecord, Credentials
from searchapi.throttle import FileRateLimiter, RateLimiter, RedisRateLimiter

log = logging.getLogger(__name__)


@cache
def rate_limiter() -> RateLimiter:
    # Shared by every worker process: through Redis across hosts, through a lock file on one host.
    if settings.REDIS_URL:
        return RedisRateLimiter(settings.REDIS_URL)
    return FileRateLimiter(settings.DATA_DIR / "throttle")


def _recorder(application_id: int):
    def record(call: CallRecord) -> None:
        try:
            ApiCall.objects.create(
                application_id=application_id,
                service=call.service,
                operation=call.operation,
                error_code="" if call.error_code is None else str(call.error_code),
                error_msg=call.error_msg[:255],
                latency_ms=call.latency_ms,
                log_id=call.log_id,
            )
        except Exception:
            # The call log is a record, not a reason to fail the operation it describes.
            log.exception("could not record a call of application %s", application_id)

    return record


def http_session() -> requests.Session:
    """The HTTP session for backend calls (tests mount a transport for the hosted endpoint)."""
    return requests.Session()


def client_for(application: Application, *, interactive: bool = False) -> BaiduClient:
    connect, read = settings.BACKEND_TIMEOUT
    return BaiduClient(
        base_url=application.endpoint,
        credentials=Credentials(
            app_id=application.app_id,
            api_key=application.api_key,
            secret_key=application.secret_key,
        ),
        auth_mode="sign" if application.auth_mode == Application.AuthMode.SIGN else "token",
        qps=application.qps,
        limiter=rate_limiter(),
        limiter_key=f"tuku-app-{application.pk}",
        timeout=(connect, min(read, 15.0) if interactive else read),
        on_call=_recorder(application.pk),
        session=http_session(),
    )
