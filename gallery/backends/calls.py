"""What the console's wire clients share, whatever the cloud: the HTTP session, the timeouts,
the QPS limiter every worker draws from, and the log of calls behind the usage charts."""

from __future__ import annotations

import logging
from functools import cache

import requests
from django.conf import settings

from gallery.models import ApiCall
from searchapi.throttle import FileRateLimiter, RateLimiter, RedisRateLimiter
from searchapi.transport import vetted_session
from wire import urlfetch

log = logging.getLogger(__name__)


@cache
def rate_limiter() -> RateLimiter:
    # Shared by every worker process: through Redis across hosts, through a lock file on one host.
    if settings.REDIS_URL:
        return RedisRateLimiter(settings.REDIS_URL)
    return FileRateLimiter(settings.DATA_DIR / "throttle")


def http_session(*, public_only: bool) -> requests.Session:
    """The HTTP session for backend calls (tests mount a transport for the hosted endpoint).

    A hosted backend's base URL comes from a user, so its calls connect to public addresses
    only, unless the operator allows private backends; the built-in engine is at ENGINE_URL,
    which the operator set."""
    if public_only and not settings.BACKEND_ALLOW_PRIVATE:
        return vetted_session(urlfetch.is_public)
    return requests.Session()


def request_timeout(interactive: bool) -> tuple[float, float]:
    connect, read = settings.BACKEND_TIMEOUT
    return connect, min(read, 15.0) if interactive else read


def call_save(
    application_id: int,
    *,
    service: str,
    operation: str,
    error_code: int | str | None,
    error_msg: str,
    latency_ms: float,
    log_id: int | None = None,
    retried: bool = False,
    qps_retries: int = 0,
) -> None:
    """Log one call; the log is a record, never a reason to fail the operation it describes.

    ``retried``: the client sent the operation again after this answer; ``qps_retries``: the
    QPS-limit answers the operation had before this one (both as the wire clients report)."""
    try:
        ApiCall.objects.create(
            application_id=application_id,
            service=service[:32],
            operation=operation[:32],
            error_code="" if error_code is None else str(error_code),
            error_msg=error_msg[:255],
            latency_ms=latency_ms,
            log_id=log_id,
            retried=retried,
            qps_retries=qps_retries,
        )
    except Exception:
        log.exception("could not record a call of application %s", application_id)
