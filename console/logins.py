"""Limits on failed logins for every password form (the console's login, the admin's login, the
password change), enforced by django-axes at the authentication layer.

A failure counts against three counters, each with its own limit: the user name from one
address (LOGIN_ATTEMPTS), the user name from any address (LOGIN_USER_ATTEMPTS), and the address
for any user name (LOGIN_ADDRESS_ATTEMPTS, much higher: behind a reverse proxy one address is
the whole team). Axes compares every counter with one limit, hence the handler below. Counters
live in the default cache and expire LOGIN_WINDOW_SECONDS after the last failure. While the
cache is down the limits fail open, logged: locking everybody out would be worse.
"""

from __future__ import annotations

import logging
from typing import Any

from axes.handlers.cache import AxesCacheHandler
from axes.helpers import get_client_cache_keys
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

log = logging.getLogger(__name__)


def limits() -> tuple[int, int, int]:
    """In the order of settings.AXES_LOCKOUT_PARAMETERS."""
    return (
        settings.LOGIN_ATTEMPTS,
        settings.LOGIN_USER_ATTEMPTS,
        settings.LOGIN_ADDRESS_ATTEMPTS,
    )


def client_address(request: HttpRequest) -> str:
    """The address the outermost of TRUSTED_PROXIES saw. Each proxy appends the address it got
    the request from, so entries further left were written by the client and prove nothing."""
    own = str(request.META.get("REMOTE_ADDR", ""))
    if not settings.TRUSTED_PROXIES:
        return own
    chain = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    chain = [h for h in chain if h]
    if len(chain) < settings.TRUSTED_PROXIES:
        return own  # it did not come through every proxy: trust only the connection
    return chain[-settings.TRUSTED_PROXIES]


def failure_ceiling(request: HttpRequest, credentials: dict[str, Any] | None) -> int:
    """Axes' own single limit: the highest of ours, so that it never locks before we do."""
    return max(limits())


def attempt_username(request: HttpRequest, credentials: dict[str, Any] | None) -> str | None:
    """The name a counter is kept for: `Alice` and ` alice` are one person to an attacker."""
    name = (credentials or {}).get("username")
    return name.strip().lower() if isinstance(name, str) else None


def locked_message() -> str:
    minutes = max(1, settings.LOGIN_WINDOW_SECONDS // 60)
    return _("Too many failed attempts. Wait %(m)d minutes and try again.") % {"m": minutes}


def locked_out(
    request: HttpRequest, response: HttpResponse | None, credentials: dict[str, Any] | None
) -> HttpResponse:
    """The answer once a limit is reached. Our own forms already say so beside the form (and
    answer 429); any other password form (the admin's) gets this page."""
    if response is not None and response.status_code == 429:
        return response
    return render(
        request, "registration/locked_out.html", {"message": locked_message()}, status=429
    )


class LoginLimits(AxesCacheHandler):
    def is_locked(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> bool:
        try:
            keys = get_client_cache_keys(request, credentials)
            counts = [int(self.cache.get(key, 0)) for key in keys]
        except Exception:
            log.warning("login limits are off: the cache does not answer", exc_info=True)
            return False
        return any(count >= limit for count, limit in zip(counts, limits(), strict=True))

    def user_login_failed(
        self, sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any
    ) -> None:
        try:
            super().user_login_failed(sender, credentials, request, **kwargs)
        except Exception:
            log.warning("a failed login was not counted: the cache does not answer", exc_info=True)
            return
        if request is not None and self.is_locked(request, credentials):
            request.axes_locked_out = True
            request.axes_credentials = credentials
