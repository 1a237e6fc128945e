"""The console's pages. Views are thin: an access helper fetches the object for the user (404 for
a non-member, 403 for a role too low), a form validates, a service writes, a selector reads.
Mutations are POST-only with CSRF and end in a redirect, a JSON answer or a fragment."""

from __future__ import annotations

import contextlib
import hashlib
import logging
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db.models import Count
from django.forms import Form
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from gallery import access, fetch, selectors, services
from gallery.access import applications_for, get_application, get_image, get_library
from gallery.explain import explained
from gallery.forms import (
    ApplicationEditForm,
    ApplicationForm,
    BulkForm,
    CapacityForm,
    CheckForm,
    ClearForm,
    CopyForm,
    CredentialsForm,
    ImageEditForm,
    LabelsForm,
    LibraryForm,
    ListingForm,
    MemberForm,
    RoleForm,
    SearchForm,
    UploadForm,
)
from gallery.images import MAX_BYTES, ImageInvalid
from gallery.models import (
    ROLE_RANK,
    Application,
    Image,
    ImageSource,
    ImageStatus,
    Library,
    Membership,
    Role,
    Service,
)
from gallery.services import DuplicateImage, Labels
from searchapi.baidu import BaiduError

log = logging.getLogger(__name__)

SHOW_SECRET = "tuku-show-secret"  # noqa: S105 - session flag: the application whose keys are shown once
SEARCH_TTL = 15 * 60  # seconds a query image is kept for paging through its results
IDLE_WARNING = timedelta(days=335)  # Baidu releases libraries idle for a year (spec §3.2)
SETTLED = {ImageStatus.INDEXED, ImageStatus.FAILED, ImageStatus.DELETED}


# --- login (rate-limited) ---------------------------------------------------------------------


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


# --- helpers ----------------------------------------------------------------------------------


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _is_fragment(request: HttpRequest) -> bool:
    return request.headers.get("X-Requested-With") == "fetch"


def _add_errors(form: Form, exc: ValidationError) -> None:
    """Put a service's ValidationError beside the field it names, or above the form."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            for error in errors:
                form.add_error(field if field in form.fields else None, error)
    else:
        form.add_error(None, exc)


def _role(user: Any, application: Application) -> Role:
    return access.role_of(user, application) or Role.VIEWER


def _can(role: Role, needed: Role) -> bool:
    return ROLE_RANK[role] >= ROLE_RANK[needed]


def _next_url(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}):
        return target
    return fallback


def _image_json(image: Image, service: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": image.pk,
        "status": image.status,
        "status_label": ImageStatus(image.status).label,
        "done": image.status in SETTLED and not image.pending_update,
        "pending_update": bool(image.pending_update),
        "url": reverse("gallery:image", args=[image.pk]),
        "thumbnail": reverse("gallery:image-thumbnail", args=[image.pk]),
        "brief": image.brief,
        "cont_sign": image.cont_sign or "",
    }
    if image.error_code:
        out["error"] = explained(image.error_code, image.error_msg, service).as_json()
    if image.duplicate_of_id:
        out["duplicate"] = {
            "id": image.duplicate_of_id,
            "url": reverse("gallery:image", args=[image.duplicate_of_id]),
        }
    return out


# --- applications -----------------------------------------------------------------------------


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    rows = []
    for application in applications_for(request.user).prefetch_related("libraries"):
        libraries = {lib.service: lib for lib in application.libraries.all()}
        enabled = [(Service(s), libraries.get(s)) for s in application.services if s in Service]
        rows.append((application, enabled))
    return render(request, "gallery/home.html", {"applications": rows})


@login_required
def application_new(request: HttpRequest) -> HttpResponse:
    form = ApplicationForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            application = services.application_create(
                actor=request.user,
                name=data["name"],
                backend=data["backend"],
                services=data["services"],
                qps=form.qps,
                base_url=data.get("base_url") or "",
                app_id=data.get("app_id", "").strip(),
                api_key=data.get("api_key", "").strip(),
                secret_key=data.get("secret_key", "").strip(),
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            if application.backend == Application.Backend.BUILTIN:
                request.session[SHOW_SECRET] = application.pk
            messages.success(request, _("Application “%s” created.") % application.name)
            return redirect("gallery:application", application.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "gallery/application_new.html", {"form": form}, status=status)


@login_required
@require_POST
def application_test(request: HttpRequest) -> JsonResponse:
    """The "test connection" button: fetch a token the way saving would, show what came back."""
    form = CredentialsForm(request.POST)
    if not form.is_valid():
        return JsonResponse({"ok": False, "errors": form.errors.get_json_data()}, status=400)
    data = form.cleaned_data
    try:
        mode = services.application_check_credentials(
            base_url=data.get("base_url") or "",
            app_id=data.get("app_id", ""),
            api_key=data["api_key"].strip(),
            secret_key=data["secret_key"].strip(),
        )
    except BaiduError as exc:
        return JsonResponse({"ok": False, **explained(exc.error_code, exc.error_msg).as_json()})
    label = Application.AuthMode(mode).label
    return JsonResponse({"ok": True, "auth_mode": mode, "message": _("Connected: %s.") % label})


def _detail_context(request: HttpRequest, application: Application, **extra: Any) -> dict:
    role = _role(request.user, application)
    libraries = {lib.service: lib for lib in application.libraries.all()}
    counts = dict(
        Image.objects.filter(library__application=application)
        .exclude(status__in=[ImageStatus.DELETED, ImageStatus.DELETING])
        .values_list("library_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    cards = []
    idle_before = timezone.now() - IDLE_WARNING
    bound_library = extra.pop("library_form", None)
    bound_capacity = extra.pop("capacity_form", None)
    capacity_for = extra.pop("capacity_for", None)
    for service in Service:
        library = libraries.get(service.value)
        cards.append(
            {
                "service": service,
                "enabled": service.value in application.services,
                "library": library,
                "count": counts.get(library.pk, 0) if library else 0,
                "idle": bool(
                    library
                    and application.backend == Application.Backend.BAIDU
                    and library.last_activity_at
                    and library.last_activity_at < idle_before
                ),
                "library_form": bound_library
                if bound_library is not None and bound_library.data.get("service") == service
                else LibraryForm(initial={"service": service.value}),
                "capacity_form": bound_capacity
                if library is not None and capacity_for == library.pk
                else CapacityForm(
                    initial={"capacity": library.capacity + 100_000} if library else {}
                ),
            }
        )
    show_secret = request.session.pop(SHOW_SECRET, None) == application.pk
    library_errors = []
    if bound_library is not None:
        library_errors = [
            *bound_library.non_field_errors(),
            *bound_library.errors.get("service", []),
        ]
    context = {
        "library_errors": library_errors,
        "application": application,
        "role": role,
        "is_owner": _can(role, Role.OWNER),
        "cards": cards,
        "members": Membership.objects.filter(application=application)
        .select_related("user")
        .order_by("user__username"),
        "member_form": MemberForm(),
        "roles": Role.choices,
        "secret": application.secret_key if show_secret else None,
        "secret_once": show_secret,
    }
    context.update(extra)
    return context


@login_required
@require_GET
def application_detail(request: HttpRequest, application_id: int) -> HttpResponse:
    application = get_application(request.user, application_id)
    return render(request, "gallery/application_detail.html", _detail_context(request, application))


@login_required
@require_POST
def application_reveal(request: HttpRequest, application_id: int) -> HttpResponse:
    application = get_application(request.user, application_id, Role.OWNER)
    secret = services.application_reveal_secret(actor=request.user, application=application)
    response: HttpResponse
    if _wants_json(request):
        response = JsonResponse({"secret_key": secret})
    else:
        context = _detail_context(request, application, secret=secret)
        response = render(request, "gallery/application_detail.html", context)
    response["Cache-Control"] = "no-store"
    return response


@login_required
def application_rotate(request: HttpRequest, application_id: int) -> HttpResponse:
    application = get_application(request.user, application_id, Role.OWNER)
    if application.backend != Application.Backend.BUILTIN:
        raise Http404
    if request.method == "POST":
        services.application_rotate_secret(actor=request.user, application=application)
        request.session[SHOW_SECRET] = application.pk
        messages.success(request, _("New Secret Key issued. Tokens issued before no longer work."))
        return redirect("gallery:application", application.pk)
    return render(request, "gallery/application_rotate.html", {"application": application})


@login_required
@require_POST
def member_add(request: HttpRequest, application_id: int) -> HttpResponse:
    application = get_application(request.user, application_id, Role.OWNER)
    form = MemberForm(request.POST)
    if form.is_valid():
        try:
            services.membership_set(
                actor=request.user,
                application=application,
                user=form.cleaned_data["username"],
                role=form.cleaned_data["role"],
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, _("Member saved."))
            return redirect(reverse("gallery:application", args=[application.pk]) + "#members")
    context = _detail_context(request, application, member_form=form)
    return render(request, "gallery/application_detail.html", context, status=400)


@login_required
@require_POST
def member_role(request: HttpRequest, application_id: int, user_id: int) -> HttpResponse:
    application = get_application(request.user, application_id, Role.OWNER)
    membership = Membership.objects.filter(application=application, user_id=user_id).first()
    form = RoleForm(request.POST)
    if membership is None:
        raise Http404
    if not form.is_valid():
        messages.error(request, _("Unknown role."))
    else:
        try:
            services.membership_set(
                actor=request.user,
                application=application,
                user=membership.user,
                role=form.cleaned_data["role"],
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Role changed."))
    return redirect(reverse("gallery:application", args=[application.pk]) + "#members")


@login_required
@require_POST
def member_remove(request: HttpRequest, application_id: int, user_id: int) -> HttpResponse:
    application = get_application(request.user, application_id, Role.OWNER)
    membership = Membership.objects.filter(application=application, user_id=user_id).first()
    if membership is None:
        raise Http404
    try:
        services.membership_remove(
            actor=request.user, application=application, user=membership.user
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Member removed."))
    if membership.user == request.user and not access.role_of(request.user, application):
        return redirect("gallery:home")
    return redirect(reverse("gallery:application", args=[application.pk]) + "#members")


@login_required
@require_POST
def library_new(request: HttpRequest, application_id: int) -> HttpResponse:
    application = get_application(request.user, application_id, Role.OWNER)
    form = LibraryForm(request.POST)
    if form.is_valid():
        create = (
            services.library_create
            if application.backend == Application.Backend.BUILTIN
            else services.library_register
        )
        try:
            library = create(
                actor=request.user,
                application=application,
                service=form.cleaned_data["service"],
                capacity=form.cleaned_data["capacity"],
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, _("Library “%s” is ready.") % library)
            return redirect("gallery:library", library.pk)
    context = _detail_context(request, application, library_form=form)
    return render(request, "gallery/application_detail.html", context, status=400)


@login_required
@require_POST
def library_capacity(request: HttpRequest, library_id: int) -> HttpResponse:
    library = get_library(request.user, library_id, Role.OWNER)
    form = CapacityForm(request.POST)
    if form.is_valid():
        try:
            services.library_set_capacity(
                actor=request.user, library=library, capacity=form.cleaned_data["capacity"]
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, _("Capacity is now %(n)s.") % {"n": f"{library.capacity:,}"})
            return redirect(
                _next_url(request, reverse("gallery:application", args=[library.application_id]))
            )
    context = _detail_context(
        request, library.application, capacity_form=form, capacity_for=library.pk
    )
    return render(request, "gallery/application_detail.html", context, status=400)


@login_required
@require_GET
def application_activity(request: HttpRequest, application_id: int) -> HttpResponse:
    application = get_application(request.user, application_id)
    before = request.GET.get("before", "")
    rows, next_before = selectors.application_activity(
        application, before=int(before) if before.isdigit() else None
    )
    libraries = list(application.libraries.all())
    counts = dict(
        Image.objects.filter(library__application=application)
        .exclude(status__in=[ImageStatus.DELETED, ImageStatus.DELETING])
        .values_list("library_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    image_ids = [a.object_id for a in rows if a.object_type == "image" and a.object_id]
    live_images = set(
        Image.objects.filter(pk__in=image_ids, library__application=application)
        .exclude(status=ImageStatus.DELETED)
        .values_list("pk", flat=True)
    )
    context = {
        "application": application,
        "live_images": live_images,
        "rows": rows,
        "next_before": next_before,
        "calls": selectors.recent_calls(application),
        "libraries": [(lib, counts.get(lib.pk, 0)) for lib in libraries],
    }
    return render(request, "gallery/activity.html", context)


@login_required
@require_GET
def application_usage(request: HttpRequest, application_id: int) -> HttpResponse:
    application = get_application(request.user, application_id)
    days = request.GET.get("days", "30")
    span = int(days) if days in ("7", "30", "90") else 30
    usage = selectors.application_usage(application, days=span)
    return render(
        request,
        "gallery/usage.html",
        {"application": application, "usage": usage, "span": span},
    )


# --- library: listing and bulk actions --------------------------------------------------------


def _listing_filters(form: ListingForm) -> selectors.ListingFilter:
    form.is_valid()  # an invalid field is reported beside itself and left out of the filter
    data = form.cleaned_data
    return selectors.ListingFilter(
        tags=tuple(data.get("tags") or ()),
        tag_logic=data.get("tag_logic") or 0,
        class_id1=data.get("class_id1"),
        class_id2=data.get("class_id2"),
        status=data.get("status") or "",
        q=(data.get("q") or "").strip(),
        oldest_first=data.get("sort") == "old",
    )


def _library_header(library: Library) -> dict[str, Any]:
    counts = selectors.library_counts(library)
    count = counts.total
    if library.application.backend == Application.Backend.BUILTIN:
        from engine.services import EngineNotFoundError, engine_library_stats

        with contextlib.suppress(EngineNotFoundError):
            count = engine_library_stats(
                app_id=library.application.app_id, service=library.service
            ).count
    return {"counts": counts, "count": count}


@login_required
@require_GET
def library_detail(request: HttpRequest, library_id: int) -> HttpResponse:
    library = get_library(request.user, library_id)
    try:
        services.library_sync_api(library=library)
    except Exception:  # the listing must open even when the engine's store is busy
        log.exception("could not mirror API images of library %s", library.pk)
    form = ListingForm(request.GET or None, library=library)
    filters = _listing_filters(form) if request.GET else selectors.ListingFilter()
    data = form.cleaned_data if request.GET else {}
    page = selectors.library_page(
        library=library,
        filters=filters,
        after=data.get("after") or "",
        before=data.get("before") or "",
    )
    role = _role(request.user, library.application)
    context = {
        "library": library,
        "application": library.application,
        "form": form,
        "filters": filters,
        "page": page,
        "can_edit": _can(role, Role.EDITOR),
        "search_form": SearchForm(library=library),
        "retag_form": LabelsForm(library=library),
        "statuses": [s for s in ImageStatus if s != ImageStatus.DELETED],
        "batches": selectors.library_batches(library, 5),
        **_library_header(library),
    }
    return render(request, "gallery/library.html", context)


@login_required
@require_POST
def library_bulk(request: HttpRequest, library_id: int) -> HttpResponse:
    library = get_library(request.user, library_id, Role.EDITOR)
    back = _next_url(request, reverse("gallery:library", args=[library.pk]))
    form = BulkForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Select at least one image."))
        return redirect(back)
    rows = list(
        Image.objects.filter(library=library, pk__in=form.cleaned_data["ids"][:1000])
        .exclude(status=ImageStatus.DELETED)
        .order_by("-created_at", "-id")
    )
    if not rows:
        messages.error(request, _("None of the selected images is in this library any more."))
        return redirect(back)
    if form.cleaned_data["action"] == "delete":
        if not form.cleaned_data["confirmed"]:
            return render(
                request,
                "gallery/confirm_bulk_delete.html",
                {"library": library, "rows": rows, "next": back},
            )
        n = services.images_delete(actor=request.user, images_=rows)
        messages.success(request, _("%(n)d image(s) deleted.") % {"n": n})
        return redirect(back)
    labels_form = LabelsForm(request.POST, library=library)
    if not labels_form.is_valid() or not labels_form.labels_given:
        errors = [e for errs in labels_form.errors.values() for e in errs]
        messages.error(
            request,
            " ".join(str(e) for e in errors) or _("Enter the tags (or class ids) to give them."),
        )
        return redirect(back)
    result = services.images_retag(actor=request.user, images_=rows, labels=labels_form.labels)
    if result.changed:
        messages.success(request, _("%(n)d image(s) re-tagged.") % {"n": result.changed})
    for image, error in result.errors[:10]:
        messages.error(request, f"{image.brief}: {error}")
    return redirect(back)


# --- upload -----------------------------------------------------------------------------------


def _upload_one(
    request: HttpRequest,
    library: Library,
    *,
    data: bytes,
    name: str,
    brief: str | None,
    labels: Labels,
    source_kind: str = ImageSource.UPLOAD,
    source: str = "",
) -> dict[str, Any]:
    """Upload one file; the result line the page shows for it, success or not."""
    line: dict[str, Any] = {"name": name, "ok": False}
    try:
        image = services.image_upload(
            actor=request.user,
            library=library,
            data=data,
            filename=name,
            brief=brief or None,
            labels=labels,
            source_kind=source_kind,
            source=source,
        )
    except ImageInvalid as exc:
        line["error"] = explained(exc.code, exc.message, library.service).as_json()
    except DuplicateImage as exc:
        line["error"] = explained(
            216681, _("The same file (SHA-256) is already here."), library.service
        ).as_json()
        line["duplicate"] = {
            "id": exc.image.pk,
            "url": reverse("gallery:image", args=[exc.image.pk]),
            "brief": exc.image.brief,
        }
    except ValidationError as exc:
        line["error"] = {"code": "", "message": " ".join(exc.messages), "explanation": ""}
    else:
        line.update(ok=True, image=_image_json(image, library.service))
        same_brief = (
            library.images.filter(services.LIVE, brief=image.brief).exclude(pk=image.pk).exists()
        )
        if same_brief:
            line["warning"] = _("Another image in this library has the same brief.")
    return line


def _read_upload(upload: UploadedFile) -> bytes | None:
    """The file's bytes, or None when it is larger than the 3 MiB limit (not read in full)."""
    if upload.size is not None and upload.size > MAX_BYTES:
        return None
    data = upload.read(MAX_BYTES + 1)
    return None if len(data) > MAX_BYTES else data


@login_required
def library_upload(request: HttpRequest, library_id: int) -> HttpResponse:
    library = get_library(request.user, library_id, Role.EDITOR)
    form = UploadForm(request.POST if request.method == "POST" else None, library=library)
    results: list[dict[str, Any]] = []
    if request.method == "POST":
        files = request.FILES.getlist("files")
        if form.is_valid():
            urls = form.cleaned_data["urls"]
            brief = form.cleaned_data["brief"]
            if not files and not urls:
                form.add_error(None, _("Choose at least one file or give a URL."))
            elif brief and len(files) + len(urls) > 1:
                form.add_error(
                    "brief",
                    _(
                        "A brief can be given for a single file only; each file of a batch "
                        "gets its file name."
                    ),
                )
        if not form.is_valid():
            if _wants_json(request):
                return JsonResponse(
                    {"ok": False, "errors": form.errors.get_json_data()}, status=400
                )
        else:
            labels = form.labels
            for upload in files:
                data = _read_upload(upload)
                name = upload.name or "image"
                if data is None:
                    size = (upload.size or 0) / 2**20
                    message = _("The file is %(size).1f MiB; the limit is 3 MiB.") % {"size": size}
                    results.append(
                        {
                            "name": name,
                            "ok": False,
                            "error": explained(216202, message, library.service).as_json(),
                        }
                    )
                    continue
                results.append(
                    _upload_one(request, library, data=data, name=name, brief=brief, labels=labels)
                )
            for url in form.cleaned_data["urls"]:
                try:
                    fetched = fetch.fetch(url)
                except fetch.FetchError as exc:
                    results.append(
                        {
                            "name": url,
                            "ok": False,
                            "error": explained(
                                exc.code, f"{exc.error_msg}: {exc.detail}", library.service
                            ).as_json(),
                        }
                    )
                    continue
                results.append(
                    _upload_one(
                        request,
                        library,
                        data=fetched.data,
                        name=fetched.filename,
                        brief=brief,
                        labels=labels,
                        source_kind=ImageSource.URL,
                        source=url[:1024],
                    )
                )
            if _wants_json(request):
                return JsonResponse({"ok": True, "results": results})
    context = {
        "library": library,
        "application": library.application,
        "form": form,
        "results": results,
        "recent": selectors.recent_uploads(library, request.user),
        "batches": selectors.library_batches(library, 5),
        "check_form": CheckForm(),
        "max_bytes": MAX_BYTES,
    }
    status = 400 if request.method == "POST" and not form.is_valid() else 200
    return render(request, "gallery/upload.html", context, status=status)


@login_required
@require_GET
def library_status(request: HttpRequest, library_id: int) -> JsonResponse:
    """Where each of the given rows stands: the upload and preview pages poll this."""
    library = get_library(request.user, library_id)
    ids = [int(p) for p in request.GET.get("ids", "").split(",") if p.strip().isdigit()]
    rows = selectors.images_status(library, ids)
    found = {row.pk: _image_json(row, library.service) for row in rows}
    return JsonResponse({"images": found})


def _query_image(request: HttpRequest, library: Library, form: Form) -> tuple[bytes, str] | None:
    """The bytes of an uploaded query file or of the URL; errors go beside the fields."""
    upload = form.cleaned_data.get("image")
    url = (form.cleaned_data.get("url") or "").strip()
    if upload:
        data = _read_upload(upload)
        if data is None:
            form.add_error("image", _("The file is larger than 3 MiB."))
            return None
        return data, upload.name or "image"
    if url:
        try:
            fetched = fetch.fetch(url)
        except fetch.FetchError as exc:
            form.add_error(
                "url",
                f"{exc.code} {exc.error_msg}: {exc.detail} "
                + explained(exc.code, "", library.service).explanation,
            )
            return None
        return fetched.data, fetched.filename
    form.add_error("image", _("Choose an image, paste one, take a photo or give a URL."))
    return None


@login_required
@require_POST
def library_check(request: HttpRequest, library_id: int) -> HttpResponse:
    """ "Is this image already here?" (console spec §3.10)."""
    library = get_library(request.user, library_id)
    form = CheckForm(request.POST, request.FILES)
    outcome = None
    error = None
    if form.is_valid():
        query = _query_image(request, library, form)
        if query is not None:
            try:
                outcome = services.library_check(actor=request.user, library=library, data=query[0])
            except ImageInvalid as exc:
                form.add_error("image", exc.message)
            except BaiduError as exc:
                error = explained(exc.error_code, exc.error_msg, library.service)
    context = {"library": library, "form": form, "outcome": outcome, "error": error}
    template = "gallery/_check_result.html" if _is_fragment(request) else "gallery/check.html"
    status = 200 if outcome is not None else 400
    return render(request, template, context, status=status)


# --- search -----------------------------------------------------------------------------------


def _search_key(request: HttpRequest, library: Library, token: str) -> str:
    return f"tuku-search:{request.user.pk}:{library.pk}:{token}"


def _search_params(form: SearchForm, token: str) -> dict[str, Any]:
    data = form.cleaned_data
    params: dict[str, Any] = {"q": token}
    if data.get("tags"):
        params["tags"] = ",".join(str(t) for t in data["tags"])
        params["tag_logic"] = data.get("tag_logic") or 0
    for name in ("class_id1", "class_id2", "rn", "min_score"):
        if data.get(name) is not None:
            params[name] = data[name]
    return params


@login_required
def library_search(request: HttpRequest, library_id: int) -> HttpResponse:
    library = get_library(request.user, library_id)
    if request.method == "POST":
        form = SearchForm(request.POST, request.FILES, library=library)
        if form.is_valid():
            query = _query_image(request, library, form)
            if query is not None:
                token = hashlib.sha256(query[0]).hexdigest()[:32]
                cache.set(_search_key(request, library, token), query[0], SEARCH_TTL)
                url = reverse("gallery:search", args=[library.pk])
                return HttpResponseRedirect(f"{url}?{urlencode(_search_params(form, token))}")
        return _search_page(request, library, form, status=400)
    form = SearchForm(request.GET or None, library=library)
    return _search_page(request, library, form)


def _search_page(
    request: HttpRequest, library: Library, form: SearchForm, status: int = 200
) -> HttpResponse:
    role = _role(request.user, library.application)
    context: dict[str, Any] = {
        "library": library,
        "application": library.application,
        "form": form,
        "outcome": None,
        "can_edit": _can(role, Role.EDITOR),
    }
    token = request.GET.get("q", "")
    image_id = request.GET.get("image_id", "")
    if request.method == "GET" and (token or image_id) and form.is_valid():
        data = _stored_query(request, library, token, image_id)
        if data is None:
            form.add_error("image", _("The query image has expired; choose it again."))
            status = 400
        else:
            data_form = form.cleaned_data
            rn = data_form.get("rn") or 50
            pn = data_form.get("pn") or 0
            try:
                outcome = services.library_search(
                    actor=request.user,
                    library=library,
                    data=data,
                    labels=form.labels,
                    tag_logic=data_form.get("tag_logic") or 0,
                    pn=pn,
                    rn=min(rn, 1000 - pn),
                )
            except ImageInvalid as exc:
                form.add_error("image", exc.message)
                status = 400
            except ValidationError as exc:
                _add_errors(form, exc)
                status = 400
            except BaiduError as exc:
                context["error"] = explained(exc.error_code, exc.error_msg, library.service)
                status = 502
            else:
                query = request.GET.copy()
                nxt = prev = None
                if outcome.has_more and pn + rn < 1000:
                    query["pn"] = str(pn + rn)
                    nxt = query.urlencode()
                if pn > 0:
                    query["pn"] = str(max(0, pn - rn))
                    prev = query.urlencode()
                context.update(
                    outcome=outcome,
                    pn=pn,
                    rn=rn,
                    next_query=nxt,
                    prev_query=prev,
                    deleted_count=sum(1 for m in outcome.matches if m.deleted),
                    min_score=data_form.get("min_score") or 0,
                    show_deleted=request.GET.get("show_deleted") == "1",
                    query_token=token,
                    query_image_id=image_id,
                )
    return render(request, "gallery/search.html", context, status=status)


def _stored_query(
    request: HttpRequest, library: Library, token: str, image_id: str
) -> bytes | None:
    if image_id.isdigit():
        image = get_image(request.user, int(image_id))
        if not image.original or not image.original.name:
            return None
        with default_storage.open(image.original.name, "rb") as handle:
            return handle.read()
    data = cache.get(_search_key(request, library, token))
    return data if isinstance(data, bytes) else None


@login_required
@require_GET
def search_query_image(request: HttpRequest, library_id: int) -> HttpResponse:
    """The query image of a search page (kept for a few minutes, per user)."""
    library = get_library(request.user, library_id)
    data = cache.get(_search_key(request, library, request.GET.get("q", "")))
    if not isinstance(data, bytes):
        raise Http404
    response = HttpResponse(data, content_type="application/octet-stream")
    response["Content-Type"] = _content_type(data)
    response["Cache-Control"] = "private, max-age=600"
    return response


def _content_type(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"BM"):
        return "image/bmp"
    return "image/jpeg"


# --- image: preview, edit, delete, files ------------------------------------------------------


def _preview_context(request: HttpRequest, image: Image, **extra: Any) -> dict[str, Any]:
    library = image.library
    role = _role(request.user, library.application)
    pending = image.pending_update or {}
    initial = {
        "brief": pending.get("brief", image.brief),
        "tags": ", ".join(str(t) for t in pending.get("tags", image.tags)),
        "class_id1": pending.get("class_id1", image.class_id1),
        "class_id2": pending.get("class_id2", image.class_id2),
    }
    context = {
        "image": image,
        "library": library,
        "application": library.application,
        "can_edit": _can(role, Role.EDITOR),
        "history": selectors.image_history(image),
        "form": ImageEditForm(initial=initial, library=library),
        "in_progress": image.status not in SETTLED or bool(image.pending_update),
        "duplicate_of": image.duplicate_of
        if image.duplicate_of_id
        and image.duplicate_of
        and image.duplicate_of.status != ImageStatus.DELETED
        else None,
    }
    context.update(extra)
    return context


@login_required
@require_GET
def image_detail(request: HttpRequest, image_id: int) -> HttpResponse:
    image = get_image(request.user, image_id)
    return render(request, "gallery/image.html", _preview_context(request, image))


@login_required
@require_POST
def image_edit(request: HttpRequest, image_id: int) -> HttpResponse:
    image = get_image(request.user, image_id, Role.EDITOR)
    form = ImageEditForm(request.POST, library=image.library)
    if form.is_valid():
        try:
            row = services.image_edit(
                actor=request.user,
                image=image,
                brief=form.cleaned_data["brief"],
                labels=form.labels,
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            row.refresh_from_db()  # the backend may have answered already (an eager task)
            if row.pending_update:
                messages.info(request, _("Saved. Waiting for the backend to accept the change."))
            else:
                messages.success(request, _("Saved."))
            return redirect("gallery:image", image.pk)
    context = _preview_context(request, image, form=form)
    return render(request, "gallery/image.html", context, status=400)


@login_required
def image_delete(request: HttpRequest, image_id: int) -> HttpResponse:
    image = get_image(request.user, image_id, Role.EDITOR)
    if request.method == "POST":
        services.images_delete(actor=request.user, images_=[image])
        messages.success(request, _("“%s” deleted.") % image.brief)
        return redirect("gallery:library", image.library_id)
    return render(
        request, "gallery/confirm_delete.html", {"image": image, "library": image.library}
    )


@login_required
@require_POST
def image_repush(request: HttpRequest, image_id: int) -> HttpResponse:
    image = get_image(request.user, image_id, Role.EDITOR)
    try:
        services.image_repush(actor=request.user, image=image)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.info(request, _("Queued for another upload."))
    return redirect("gallery:image", image.pk)


@login_required
@require_GET
def image_file(request: HttpRequest, image_id: int, kind: str) -> HttpResponseBase:
    """The thumbnail or the original, for members only. S3: a short-lived presigned URL."""
    image = get_image(request.user, image_id)
    field = image.thumbnail if kind == "thumbnail" else image.original
    if not field or not field.name:
        raise Http404
    if settings.STORAGE_BACKEND == "s3":
        return HttpResponseRedirect(default_storage.url(field.name, expire=300))  # type: ignore[call-arg]
    try:
        handle = default_storage.open(field.name, "rb")
    except FileNotFoundError:
        raise Http404 from None
    content_type = "image/jpeg" if kind == "thumbnail" else _format_type(image.format)
    response = FileResponse(handle, content_type=content_type)
    # The names never change for a row (uuid paths), so a browser may keep them a day.
    response["Cache-Control"] = "private, max-age=86400"
    if kind == "original":
        response["Content-Disposition"] = "inline"
    return response


def _format_type(fmt: str) -> str:
    return {"PNG": "image/png", "BMP": "image/bmp"}.get(fmt, "image/jpeg")


# --- jobs: batch upload, re-push, copy, clear (console spec §3.5, §3.9, §3.13) -----------------


def _problem_json(problem: dict[str, Any], service: str) -> dict[str, Any]:
    line: dict[str, Any] = {
        "name": problem.get("name", ""),
        "ok": False,
        "error": explained(
            problem.get("code") or "", problem.get("message", ""), service
        ).as_json(),
    }
    if problem.get("duplicate"):
        line["duplicate"] = {
            "id": problem["duplicate"],
            "url": reverse("gallery:image", args=[problem["duplicate"]]),
            "brief": problem.get("name", ""),
        }
    return line


@login_required
@require_POST
def batch_new(request: HttpRequest, library_id: int) -> HttpResponse:
    """Start an upload batch: URLs go to a task at once; files, if any, are posted after."""
    library = get_library(request.user, library_id, Role.EDITOR)
    form = UploadForm(request.POST, library=library)
    files = request.FILES.getlist("files")
    follow = request.POST.get("files_follow") == "1"
    if form.is_valid() and not (files or follow or form.cleaned_data["urls"]):
        form.add_error(None, _("Choose at least one file or give a URL."))
    batch = None
    if form.is_valid():
        try:
            batch = services.batch_create(
                actor=request.user,
                library=library,
                urls=form.cleaned_data["urls"],
                brief=form.cleaned_data["brief"] if len(files) == 1 and follow is False else "",
                labels=form.labels,
                files_follow=follow or bool(files),
            )
        except ValidationError as exc:
            _add_errors(form, exc)
    if batch is None:
        return JsonResponse({"ok": False, "errors": form.errors.get_json_data()}, status=400)
    for upload in files:
        services.batch_add_file(batch=batch, data=_read_upload(upload), filename=upload.name or "")
    if files and not follow:
        services.batch_close(batch=batch)
    url = reverse("gallery:batch", args=[batch.pk])
    if not _wants_json(request):
        return redirect(url)
    return JsonResponse(
        {
            "ok": True,
            "id": batch.pk,
            "url": url,
            "files_url": reverse("gallery:batch-files", args=[batch.pk]),
            "close_url": reverse("gallery:batch-close", args=[batch.pk]),
        }
    )


@login_required
@require_POST
def batch_files(request: HttpRequest, batch_id: int) -> JsonResponse:
    """Files posted into a running upload batch, one result line each (as the upload page)."""
    batch = access.get_batch(request.user, batch_id, Role.EDITOR)
    if batch.kind != batch.Kind.UPLOAD:
        raise Http404
    service = batch.library.service
    results = []
    for upload in request.FILES.getlist("files"):
        seen = len(batch.problems)
        image = services.batch_add_file(
            batch=batch, data=_read_upload(upload), filename=upload.name or ""
        )
        if image is not None:
            results.append({"name": upload.name, "ok": True, "image": _image_json(image, service)})
        else:
            batch.refresh_from_db()
            problem = batch.problems[seen] if len(batch.problems) > seen else {}
            results.append(_problem_json(problem, service))
    return JsonResponse({"ok": True, "results": results})


@login_required
@require_POST
def batch_close(request: HttpRequest, batch_id: int) -> HttpResponse:
    batch = access.get_batch(request.user, batch_id, Role.EDITOR)
    services.batch_close(batch=batch)
    if _wants_json(request):
        return JsonResponse({"ok": True})
    return redirect("gallery:batch", batch.pk)


@login_required
@require_GET
def batch_detail(request: HttpRequest, batch_id: int) -> HttpResponse:
    batch = access.get_batch(request.user, batch_id)
    services.batch_settle(batch_id=batch.pk)
    batch.refresh_from_db()
    library = batch.library
    role = _role(request.user, library.application)
    progress = selectors.batch_progress(batch)
    context = {
        "batch": batch,
        "library": library,
        "application": library.application,
        "progress": progress,
        "can_edit": _can(role, Role.EDITOR),
        "failed": progress.counts.get(ImageStatus.FAILED, 0),
        "problems": [_problem_json(p, library.service) for p in progress.problems],
    }
    if request.GET.get("fragment"):
        return render(request, "gallery/_batch_progress.html", context)
    return render(request, "gallery/batch.html", context)


@login_required
@require_POST
def batch_cancel(request: HttpRequest, batch_id: int) -> HttpResponse:
    batch = access.get_batch(request.user, batch_id, Role.EDITOR)
    try:
        n = services.batch_cancel(actor=request.user, batch=batch)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Cancelled; %(n)d image(s) were not sent.") % {"n": n})
    return redirect("gallery:batch", batch.pk)


@login_required
@require_POST
def batch_retry(request: HttpRequest, batch_id: int) -> HttpResponse:
    batch = access.get_batch(request.user, batch_id, Role.EDITOR)
    try:
        n = services.batch_retry_failed(actor=request.user, batch=batch)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.info(request, _("%(n)d failed image(s) queued again.") % {"n": n})
    return redirect("gallery:batch", batch.pk)


@login_required
def library_clear(request: HttpRequest, library_id: int) -> HttpResponse:
    library = get_library(request.user, library_id, Role.EDITOR)
    form = ClearForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            batch = services.library_clear(
                actor=request.user, library=library, confirm=form.cleaned_data["confirm"]
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            return redirect("gallery:batch", batch.pk)
    context = {
        "library": library,
        "application": library.application,
        "form": form,
        "builtin": library.application.backend == Application.Backend.BUILTIN,
        "count": selectors.library_counts(library).total,
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "gallery/library_clear.html", context, status=status)


@login_required
@require_POST
def library_repush(request: HttpRequest, library_id: int) -> HttpResponse:
    library = get_library(request.user, library_id, Role.EDITOR)
    try:
        batch = services.library_repush(actor=request.user, library=library)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("gallery:library", library.pk)
    return redirect("gallery:batch", batch.pk)


@login_required
def library_copy(request: HttpRequest, library_id: int) -> HttpResponse:
    library = get_library(request.user, library_id, Role.EDITOR)
    choices = access.editable_libraries(request.user, library.service).exclude(pk=library.pk)
    form = CopyForm(request.POST if request.method == "POST" else None, choices=choices)
    if request.method == "POST" and form.is_valid():
        try:
            batch = services.library_copy(
                actor=request.user, source=library, target=form.cleaned_data["target"]
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            return redirect("gallery:batch", batch.pk)
    context = {"library": library, "application": library.application, "form": form}
    status = 400 if request.method == "POST" else 200
    return render(request, "gallery/library_copy.html", context, status=status)


@login_required
def application_edit(request: HttpRequest, application_id: int) -> HttpResponse:
    application = get_application(request.user, application_id, Role.OWNER)
    form = ApplicationEditForm.for_application(
        application, request.POST if request.method == "POST" else None
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.application_update(
                actor=request.user,
                application=application,
                services=form.cleaned_data["services"],
                qps=form.qps,
            )
        except ValidationError as exc:
            _add_errors(form, exc)
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
