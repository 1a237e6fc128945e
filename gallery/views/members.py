"""Who may use an application: adding a member, changing a role, removing one (owners only)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from gallery.access import get_application
from gallery.forms import MemberForm, RoleForm
from gallery.models import Application, Role
from gallery.selectors.members import membership_get
from gallery.services.members import membership_remove, membership_set
from gallery.views.applications import detail_context
from gallery.views.helpers import AuthedRequest, add_errors


def _members_url(application: Application) -> str:
    return reverse("gallery:application", args=[application.pk]) + "#members"


@login_required
@require_POST
def member_add(request: AuthedRequest, application_id: int) -> HttpResponse:
    application, role = get_application(request.user, application_id, Role.OWNER)
    form = MemberForm(request.POST)
    if form.is_valid():
        try:
            membership_set(
                actor=request.user,
                application=application,
                user=form.cleaned_data["username"],
                role=form.cleaned_data["role"],
            )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, _("Member saved."))
            return redirect(_members_url(application))
    context = detail_context(request, application, role, member_form=form)
    return render(request, "gallery/application_detail.html", context, status=400)


@login_required
@require_POST
def member_role(request: AuthedRequest, application_id: int, user_id: int) -> HttpResponse:
    application, _role = get_application(request.user, application_id, Role.OWNER)
    membership = membership_get(application, user_id)
    if membership is None:
        raise Http404
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Unknown role."))
    else:
        try:
            membership_set(
                actor=request.user,
                application=application,
                user=membership.user,
                role=form.cleaned_data["role"],
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Role changed."))
    return redirect(_members_url(application))


@login_required
@require_POST
def member_remove(request: AuthedRequest, application_id: int, user_id: int) -> HttpResponse:
    application, _role = get_application(request.user, application_id, Role.OWNER)
    membership = membership_get(application, user_id)
    if membership is None:
        raise Http404
    try:
        membership_remove(actor=request.user, application=application, user=membership.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(_members_url(application))
    messages.success(request, _("Member removed."))
    # An owner who removed themselves can no longer see the page (a superuser still can).
    if membership.user == request.user and not request.user.is_superuser:
        return redirect("gallery:home")
    return redirect(_members_url(application))
