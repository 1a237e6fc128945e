"""Teammates' accounts (owners): creating one with a one-time set-password link, a fresh link,
deactivating and reactivating; and the page where the link sets the password."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import SetPasswordForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from gallery.access import get_application, get_member_account
from gallery.forms import AccountForm
from gallery.models import Application, PasswordLink, Role
from gallery.selectors.people import password_link_get
from gallery.services.people import (
    account_create,
    account_deactivate,
    account_link_issue,
    account_password_set,
    account_reactivate,
)
from gallery.views.applications import SHOW_LINK, detail_context
from gallery.views.helpers import AuthedRequest, add_errors

# With two authentication backends `login` must be told which one the session is for: the
# one that loads the user on later requests (and refuses a deactivated one).
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
SET_PASSWORD_TOKEN = "tuku-set-password-token"  # noqa: S105 - session key of the link being used


def _members_url(application: Application) -> str:
    return reverse("gallery:application", args=[application.pk]) + "#members"


def _show_link(
    request: AuthedRequest, application: Application, token: str, link: PasswordLink
) -> None:
    """Hand the link to the next view of the application page, once (Post/Redirect/Get)."""
    request.session[SHOW_LINK] = {
        "application": application.pk,
        "user": link.user.get_username(),
        "url": request.build_absolute_uri(reverse("gallery:password-link", args=[token])),
        "expires": link.expires_at.isoformat(),
    }


@login_required
@require_POST
def account_new(request: AuthedRequest, application_id: int) -> HttpResponse:
    application, role = get_application(request.user, application_id, Role.OWNER)
    form = AccountForm(request.POST, prefix="account")
    if form.is_valid():
        data = form.cleaned_data
        try:
            user, token, link = account_create(
                actor=request.user,
                application=application,
                username=data["username"],
                display_name=data["display_name"],
                email=data["email"],
                role=data["role"],
            )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            _show_link(request, application, token, link)
            messages.success(request, _("Account “%s” created.") % user.get_username())
            return redirect(_members_url(application))
    context = detail_context(request, application, role, account_form=form)
    return render(request, "gallery/application_detail.html", context, status=400)


@login_required
@require_POST
def account_link(request: AuthedRequest, application_id: int, user_id: int) -> HttpResponse:
    application, membership = get_member_account(request.user, application_id, user_id)
    try:
        token, link = account_link_issue(
            actor=request.user, application=application, user=membership.user
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        _show_link(request, application, token, link)
    return redirect(_members_url(application))


@login_required
@require_POST
def account_active(
    request: AuthedRequest, application_id: int, user_id: int, active: bool
) -> HttpResponse:
    application, membership = get_member_account(request.user, application_id, user_id)
    name = membership.user.get_username()
    try:
        if active:
            account_reactivate(actor=request.user, user=membership.user)
            messages.success(request, _("“%s” can log in again.") % name)
        else:
            account_deactivate(actor=request.user, user=membership.user)
            messages.success(request, _("“%s” is deactivated and can no longer log in.") % name)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect(_members_url(application))


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    # Not "no-referrer": the browser would then send `Origin: null` with the form, which
    # Django's CSRF check refuses. No other site gets a Referer from these pages either way.
    response["Referrer-Policy"] = "same-origin"
    return response


def _link_refused(request: HttpRequest) -> HttpResponse:
    return _no_store(
        render(request, "registration/password_set.html", {"invalid": True}, status=404)
    )


def password_link(request: HttpRequest, token: str) -> HttpResponse:
    """The one-time link itself: its token moves into the session and the browser goes on to
    an address without it (as Django's password reset does), so that it is not in the
    history, in a Referer or in the logs of the form's requests."""
    if password_link_get(token) is None:
        return _link_refused(request)
    request.session[SET_PASSWORD_TOKEN] = token
    return _no_store(redirect("gallery:password-set"))


def password_set(request: HttpRequest) -> HttpResponse:
    """A form for the new password; once saved, the link is spent and the teammate is
    logged in."""
    token = request.session.get(SET_PASSWORD_TOKEN)
    link = password_link_get(token) if isinstance(token, str) else None
    if link is None:
        return _link_refused(request)
    form = SetPasswordForm(link.user, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            user = account_password_set(link=link, password=form.cleaned_data["new_password1"])
        except ValidationError:
            return _link_refused(request)
        request.session.pop(SET_PASSWORD_TOKEN, None)
        login(request, user, backend=MODEL_BACKEND)
        messages.success(request, _("Your password is set. Welcome to Tuku."))
        return redirect("gallery:home")
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "account": link.user, "link": link}
    return _no_store(render(request, "registration/password_set.html", context, status=status))
