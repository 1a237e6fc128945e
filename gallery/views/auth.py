"""Logging in, with a limit on failed attempts per address and per user name."""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _


def _attempt_keys(request: HttpRequest, username: str) -> list[str]:
    address = request.META.get("REMOTE_ADDR", "")
    user_hash = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:16]
    return [f"login-fail:ip:{address}", f"login-fail:user:{user_hash}"]


class LoginView(auth_views.LoginView):
    """Django's login, refusing further attempts once an address or a name failed too often."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        keys = _attempt_keys(request, request.POST.get("username", ""))
        if any(_failures(key) >= settings.LOGIN_ATTEMPTS for key in keys):
            form = self.get_form()
            form.errors.clear()
            form.add_error(
                None,
                _("Too many failed attempts. Wait %(m)d minutes and try again.")
                % {"m": max(1, settings.LOGIN_WINDOW_SECONDS // 60)},
            )
            return self.render_to_response(self.get_context_data(form=form), status=429)
        response = super().post(request, *args, **kwargs)
        if response.status_code == 200:  # the form came back: the credentials were wrong
            for key in keys:
                _fail(key)
        return response


def _failures(key: str) -> int:
    try:
        return int(cache.get(key, 0))
    except Exception:
        return 0  # a cache outage must not lock everybody out


def _fail(key: str) -> None:
    try:
        if not cache.add(key, 1, settings.LOGIN_WINDOW_SECONDS):
            cache.incr(key)
    except Exception:  # noqa: S110 - the limiter is best effort when its cache is down
        pass
