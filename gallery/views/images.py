"""One image: its preview page, edit, delete, re-push and files; the status the pages poll."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.http import (
    FileResponse,
    Http404,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from gallery.access import can, get_image, get_library
from gallery.forms import ImageEditForm
from gallery.models import Image, Role
from gallery.selectors import history
from gallery.selectors.images import image_duplicate_of, image_pending, images_status
from gallery.services import images
from gallery.views.helpers import SETTLED, AuthedRequest, add_errors, image_json


def _preview_context(image: Image, role: Role, **extra: Any) -> dict[str, Any]:
    library = image.library
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
        "can_edit": can(role, Role.EDITOR),
        "history": history.image_history(image),
        "form": ImageEditForm(initial=initial, library=library),
        "in_progress": image.status not in SETTLED or bool(image.pending_update),
        "duplicate_of": image_duplicate_of(image),
    }
    context.update(extra)
    return context


@login_required
@require_GET
def image_detail(request: AuthedRequest, image_id: int) -> HttpResponse:
    image, role = get_image(request.user, image_id)
    return render(request, "gallery/image.html", _preview_context(image, role))


@login_required
@require_POST
def image_edit(request: AuthedRequest, image_id: int) -> HttpResponse:
    image, role = get_image(request.user, image_id, Role.EDITOR)
    kept = (image.pending_update or {}).get("brief", image.brief)
    form = ImageEditForm(request.POST, library=image.library, kept_brief=kept)
    if form.is_valid():
        try:
            images.image_update(
                actor=request.user,
                image=image,
                brief=form.cleaned_data["brief"],
                labels=form.labels,
            )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            # Read again: the backend may have answered already (an eager task).
            if image_pending(image):
                messages.info(request, _("Saved. Waiting for the backend to accept the change."))
            else:
                messages.success(request, _("Saved."))
            return redirect("gallery:image", image.pk)
    context = _preview_context(image, role, form=form)
    return render(request, "gallery/image.html", context, status=400)


@login_required
def image_delete(request: AuthedRequest, image_id: int) -> HttpResponse:
    image, _role = get_image(request.user, image_id, Role.EDITOR)
    if request.method == "POST":
        images.images_delete(actor=request.user, images=[image])
        messages.success(request, _("“%s” deleted.") % image.brief)
        return redirect("gallery:library", image.library_id)
    return render(
        request, "gallery/confirm_delete.html", {"image": image, "library": image.library}
    )


@login_required
@require_POST
def image_repush(request: AuthedRequest, image_id: int) -> HttpResponse:
    image, _role = get_image(request.user, image_id, Role.EDITOR)
    try:
        images.image_repush(actor=request.user, image=image)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.info(request, _("Queued for another upload."))
    return redirect("gallery:image", image.pk)


@login_required
@require_GET
def image_file(request: AuthedRequest, image_id: int, kind: str) -> HttpResponseBase:
    """The thumbnail or the original, for members only. S3: a short-lived presigned URL."""
    image, _role = get_image(request.user, image_id)
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


@login_required
@require_GET
def library_status(request: AuthedRequest, library_id: int) -> JsonResponse:
    """Where each of the given rows stands: the upload, batch and preview pages poll this."""
    library, _role = get_library(request.user, library_id)
    ids = [int(p) for p in request.GET.get("ids", "").split(",") if p.strip().isdigit()]
    rows = images_status(library, ids)
    found = {row.pk: image_json(row, library.service) for row in rows}
    return JsonResponse({"images": found})
