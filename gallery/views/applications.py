"""Application pages: the list, creating and editing one, its detail page with the secrets, and
its activity and usage pages."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from gallery.access import applications_for, can, get_application, manageable_account_ids
from gallery.explain import explained
from gallery.forms import (
    AccountForm,
    ApplicationEditForm,
    ApplicationForm,
    CapacityForm,
    CredentialsForm,
    InstanceForm,
    LibraryForm,
    MemberForm,
)
from gallery.models import Application, Library, Role, Service
from gallery.selectors import activity, applications, counts, members, usage
from gallery.services.applications import (
    application_check_credentials,
    application_create,
    application_reveal_secret,
    application_rotate_secret,
    application_update,
)
from gallery.views import snippets
from gallery.views.helpers import AuthedRequest, add_errors, wants_json
from searchapi.errors import ApiError
from wire.aliyun import CAPACITY_UNIT

SHOW_SECRET = "tuku-show-secret"  # noqa: S105 - session flag: the application whose keys are shown once
SHOW_LINK = "tuku-show-link"  # a set-password link just issued, shown once on the members section
IDLE_WARNING = timedelta(days=335)  # Baidu releases libraries idle for a year (console §3.2)


@login_required
@require_GET
def home(request: AuthedRequest) -> HttpResponse:
    rows = applications.application_list(applications_for(request.user))
    return render(request, "gallery/home.html", {"applications": rows})


@login_required
def application_new(request: AuthedRequest) -> HttpResponse:
    form = ApplicationForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if form.aliyun:
            keys = {
                "base_url": data.get("endpoint") or "",
                "api_key": data.get("access_key_id", "").strip(),
                "secret_key": data.get("access_key_secret", "").strip(),
                "region": data.get("region", ""),
            }
        else:
            keys = {
                "base_url": data.get("base_url") or "",
                "app_id": data.get("app_id", "").strip(),
                "api_key": data.get("api_key", "").strip(),
                "secret_key": data.get("secret_key", "").strip(),
            }
        try:
            application = application_create(
                actor=request.user,
                name=data["name"],
                backend=data["backend"],
                services=data["services"],
                qps=form.qps_chosen,
                **keys,
            )
        except ValidationError as exc:
            add_errors(form, _aliyun_fields(exc) if form.aliyun else exc)
        else:
            if application.builtin:
                request.session[SHOW_SECRET] = application.pk
            messages.success(request, _("Application “%s” created.") % application.name)
            return redirect("gallery:application", application.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "gallery/application_new.html", {"form": form}, status=status)


@login_required
@require_POST
def application_test(request: AuthedRequest) -> JsonResponse:
    """The "test connection" button: fetch a token the way saving would, show what came back."""
    form = CredentialsForm(request.POST)
    if not form.is_valid():
        return JsonResponse({"ok": False, "errors": form.errors.get_json_data()}, status=400)
    data = form.cleaned_data
    try:
        mode = application_check_credentials(
            backend=data.get("backend") or Application.Backend.BAIDU,
            base_url=data.get("base_url") or "",
            app_id=data.get("app_id", ""),
            api_key=data["api_key"].strip(),
            secret_key=data["secret_key"].strip(),
            region=data.get("region", "").strip(),
        )
    except ValidationError as exc:
        return JsonResponse({"ok": False, "errors": _messages_by_field(exc)}, status=400)
    except ApiError as exc:
        return JsonResponse({"ok": False, **explained(exc.error_code, exc.error_msg).as_json()})
    label = Application.AuthMode(mode).label
    return JsonResponse({"ok": True, "auth_mode": mode, "message": _("Connected: %s.") % label})


def _aliyun_fields(exc: ValidationError) -> ValidationError:
    """The services' errors under the names the Alibaba fields have on the form."""
    if not hasattr(exc, "error_dict"):
        return exc
    names = {"base_url": "endpoint", "api_key": "access_key_id", "secret_key": "access_key_secret"}
    return ValidationError({names.get(k, k): v for k, v in exc.message_dict.items()})


def _messages_by_field(exc: ValidationError) -> dict[str, list[dict[str, str]]]:
    """The shape of `form.errors.get_json_data()`, which the page already shows."""
    return {
        field: [{"message": message, "code": ""} for message in messages_]
        for field, messages_ in exc.message_dict.items()
    }


def detail_context(
    request: AuthedRequest,
    application: Application,
    role: Role,
    *,
    library_form: LibraryForm | InstanceForm | None = None,
    capacity_form: CapacityForm | None = None,
    capacity_for: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The application page; a form that came back invalid is shown in place of its blank."""
    libraries = {
        lib.instance_name or lib.service: (lib, n)
        for lib, n in counts.application_library_counts(application)
    }
    idle_before = timezone.now() - IDLE_WARNING
    cards = []
    for service in [] if application.aliyun else Service:
        library, count = libraries.get(service.value, (None, 0))
        cards.append(
            {
                "service": service,
                "enabled": service.value in application.services,
                "library": library,
                "count": count,
                "idle": _idle(application, library, idle_before),
                "library_form": library_form
                if library_form is not None and library_form.data.get("service") == service
                else LibraryForm(initial={"service": service.value}),
                "capacity_form": capacity_form
                if library is not None and capacity_for == library.pk
                else CapacityForm(
                    initial={"capacity": library.capacity + 100_000} if library else {}
                ),
            }
        )
    instances = []
    if application.aliyun:
        instances = [
            {
                "library": lib,
                "count": n,
                "capacity_form": capacity_form
                if capacity_for == lib.pk and capacity_form is not None
                else CapacityForm(initial={"capacity": lib.capacity + CAPACITY_UNIT}),
            }
            for lib, n in libraries.values()
        ]
    # Set once by creation or rotation: the keys are shown on the next page only.
    show_secret = request.session.pop(SHOW_SECRET, None) == application.pk
    new_link = request.session.pop(SHOW_LINK, None)
    if new_link and new_link.get("application") != application.pk:
        new_link = None
    if new_link:
        new_link = {**new_link, "expires": datetime.fromisoformat(new_link["expires"])}
    is_owner = can(role, Role.OWNER)
    member_rows = members.application_members(application)
    manageable = (
        manageable_account_ids(request.user, [m.user_id for m in member_rows])
        if is_owner
        else set()
    )
    library_errors = []
    if library_form is not None and not application.aliyun:
        library_errors = [*library_form.non_field_errors(), *library_form.errors.get("service", [])]
    context = {
        "instances": instances,
        "instance_form": library_form if application.aliyun and library_form else InstanceForm(),
        "library_errors": library_errors,
        "application": application,
        "role": role,
        "is_owner": is_owner,
        "read_only": not can(role, Role.EDITOR),
        "cards": cards,
        "members": member_rows,
        "manageable": manageable,
        "member_form": MemberForm(),
        "account_form": AccountForm(prefix="account"),
        "new_link": new_link,
        "now": timezone.now(),
        "roles": Role.choices,
        "secret": application.secret_key if show_secret else None,
        "secret_once": show_secret,
        # The built-in engine serves the wire on this server's own origin (console.urls).
        "sdk_endpoint": snippets.where(application, request.build_absolute_uri("/")),
        "snippet": snippets.code_snippet(
            application,
            request.build_absolute_uri("/"),
            instance=next((lib.instance_name for lib, _n in libraries.values()), ""),
        ),
    }
    context.update(extra)
    return context


def _idle(application: Application, library: Library | None, before: datetime) -> bool:
    """Whether Baidu may soon release the library for want of activity."""
    return bool(
        library
        and application.backend == Application.Backend.BAIDU
        and library.last_activity_at
        and library.last_activity_at < before
    )


@login_required
@require_GET
def application_detail(request: AuthedRequest, application_id: int) -> HttpResponse:
    application, role = get_application(request.user, application_id)
    context = detail_context(request, application, role)
    return render(request, "gallery/application_detail.html", context)


@login_required
@require_POST
def application_reveal(request: AuthedRequest, application_id: int) -> HttpResponse:
    application, role = get_application(request.user, application_id, Role.OWNER)
    secret = application_reveal_secret(actor=request.user, application=application)
    response: HttpResponse
    if wants_json(request):
        response = JsonResponse({"secret_key": secret})
    else:
        context = detail_context(request, application, role, secret=secret)
        response = render(request, "gallery/application_detail.html", context)
    response["Cache-Control"] = "no-store"
    return response


@login_required
def application_rotate(request: AuthedRequest, application_id: int) -> HttpResponse:
    application, _role = get_application(request.user, application_id, Role.OWNER)
    if not application.builtin:
        raise Http404
    if request.method == "POST":
        application_rotate_secret(actor=request.user, application=application)
        request.session[SHOW_SECRET] = application.pk
        messages.success(request, _("New Secret Key issued. Tokens issued before no longer work."))
        return redirect("gallery:application", application.pk)
    return render(request, "gallery/application_rotate.html", {"application": application})


@login_required
def application_edit(request: AuthedRequest, application_id: int) -> HttpResponse:
    application, _role = get_application(request.user, application_id, Role.OWNER)
    form = ApplicationEditForm.for_application(
        application, request.POST if request.method == "POST" else None
    )
    if request.method == "POST" and form.is_valid():
        try:
            application_update(
                actor=request.user,
                application=application,
                services=form.cleaned_data["services"],
                qps=form.qps,
            )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            if application.backend == Application.Backend.BAIDU:
                messages.warning(
                    request,
                    _(
                        "Saved in Tuku. Tick the same services in Baidu's console "
                        "(“edit application”) as well, or calls fail with 6."
                    ),
                )
            else:
                messages.success(request, _("Saved. The engine applies it at once."))
            return redirect("gallery:application", application.pk)
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "gallery/application_edit.html",
        {"application": application, "form": form},
        status=status,
    )


@login_required
@require_GET
def application_activity(request: AuthedRequest, application_id: int) -> HttpResponse:
    application, _role = get_application(request.user, application_id)
    before = request.GET.get("before", "")
    rows, next_before = activity.application_activity(
        application, before=int(before) if before.isdigit() else None
    )
    context = {
        "application": application,
        "live_images": activity.activity_linked_images(application, rows),
        "object_names": activity.activity_object_names(application, rows),
        "rows": rows,
        "next_before": next_before,
        "calls": usage.recent_calls(application),
        "libraries": counts.application_library_counts(application),
    }
    return render(request, "gallery/activity.html", context)


@login_required
@require_GET
def application_usage(request: AuthedRequest, application_id: int) -> HttpResponse:
    application, _role = get_application(request.user, application_id)
    days = request.GET.get("days", "30")
    context: dict[str, object] = {"application": application, "periods": usage.PERIODS}
    if days not in {str(period) for period in usage.PERIODS}:
        # Said, not silently replaced by another period: a link or bookmark that asks for a
        # period the page does not offer would otherwise show numbers for the wrong one.
        context["refused_days"] = days[:20]
        return render(request, "gallery/usage.html", context, status=400)
    span = int(days)
    context |= {"usage": usage.application_usage(application, days=span), "span": span}
    return render(request, "gallery/usage.html", context)
