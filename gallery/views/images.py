"""One image: its preview page, edit, delete, re-push and files; the status the pages poll; and
the deletes of many pictures of an Alibaba instance at once, by product or by filter."""

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
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from gallery.access import can, get_image, get_library, get_tombstone
from gallery.forms import ImageEditForm, PictureDeleteForm, PictureEditForm
from gallery.models import INT_ATTR_FIELDS, STR_ATTR_FIELDS, Image, Picture, Role
from gallery.selectors import history
from gallery.selectors.history import deleted_by
from gallery.selectors.images import (
    image_duplicate_of,
    image_neighbours,
    image_pending,
    images_status,
)
from gallery.services import images
from gallery.services.images import DeletePreview, PictureSelection
from gallery.views.helpers import SETTLED, AuthedRequest, add_errors, counted, image_json
from wire.aliyun import CATEGORIES


def _subject_box(picture: Picture) -> dict[str, int] | None:
    """The subject box the backend stored the picture with ("x1,x2,y1,y2", the original's
    pixels) as the preview's SVG rectangle; None when there is none or it does not read."""
    try:
        x1, x2, y1, y2 = (int(v) for v in picture.region.split(","))
    except ValueError:
        return None
    if not (0 <= x1 < x2 and 0 <= y1 < y2):
        return None
    return {"x": x1, "y": y1, "width": x2 - x1, "height": y2 - y1}


def _category_name(category_id: int | None) -> str:
    """ "4 Shoes": the id as the wire sends it, with Alibaba's name for it."""
    if category_id is None:
        return ""
    name = CATEGORIES.get(category_id)
    return f"{category_id} {name}" if name else str(category_id)


def _picture_initial(picture: Picture, pending: dict[str, Any] | None) -> dict[str, Any]:
    """The edit form's values: the edit waiting for the backend, else what it holds."""
    if pending is not None:
        values = [*pending["int_attrs"], *pending["str_attrs"]]
        custom = pending["custom_content"]
    else:
        values = [*picture.int_attrs, *picture.str_attrs]
        custom = picture.custom_content
    return {
        **dict(zip((*INT_ATTR_FIELDS, *STR_ATTR_FIELDS), values, strict=True)),
        "custom_content": custom,
    }


def _preview_context(
    image: Image, role: Role, *, proposal: dict[str, str] | None = None, **extra: Any
) -> dict[str, Any]:
    library = image.library
    pending = image.pending_update or {}
    context: dict[str, Any] = {
        "image": image,
        "library": library,
        "application": library.application,
        "can_edit": can(role, Role.EDITOR),
        "history": history.image_history(image),
        "in_progress": image.status not in SETTLED or bool(image.pending_update),
        "duplicate_of": image_duplicate_of(image),
        "neighbours": image_neighbours(image),
    }
    if library.is_instance:
        picture = image.picture
        context |= {
            "picture": picture,
            "subject": _subject_box(picture),
            # The box's line, about 0.4 % of the picture's longer side, at least 2 px.
            "stroke": max(2, max(image.width, image.height) // 250),
            "form": PictureEditForm(initial=_picture_initial(picture, pending.get("picture"))),
            "pending_picture": pending.get("picture"),
            "attributes": list(
                zip(
                    ("IntAttr", "IntAttr2", "IntAttr3", "IntAttr4"),
                    picture.int_attrs,
                    strict=True,
                )
            )
            + list(
                zip(
                    ("StrAttr", "StrAttr2", "StrAttr3", "StrAttr4"),
                    picture.str_attrs,
                    strict=True,
                )
            ),
            "category_given": _category_name(picture.category_id),
            "category_used": _category_name(picture.category_used),
        }
    else:
        initial = {
            "brief": pending.get("brief", image.brief),
            "tags": ", ".join(str(t) for t in pending.get("tags", image.tags)),
            "class_id1": pending.get("class_id1", image.class_id1),
            "class_id2": pending.get("class_id2", image.class_id2),
            **(proposal or {}),
        }
        context["form"] = ImageEditForm(initial=initial, library=library)
        context["proposed"] = bool(proposal)
    context.update(extra)
    return context


@login_required
@require_GET
def image_detail(request: AuthedRequest, image_id: int) -> HttpResponse:
    """The preview. An upload refused as this same file links here with the brief and labels it
    would have had (`views.helpers.refusal_json`): the edit form offers them instead."""
    try:
        image, role = get_image(request.user, image_id)
    except Http404:
        gone = get_tombstone(request.user, image_id)
        if gone is None:
            raise
        # A deleted image's address says what became of it, not just "not found".
        context = {"image": gone, "library": gone.library, "deleted_by": deleted_by(gone)}
        return render(request, "gallery/image_deleted.html", context, status=410)
    proposal = {
        name: request.GET[name][:300]
        for name in ("brief", "tags", "class_id1", "class_id2")
        if name in request.GET
    }
    return render(request, "gallery/image.html", _preview_context(image, role, proposal=proposal))


@login_required
@require_POST
def image_edit(request: AuthedRequest, image_id: int) -> HttpResponse:
    image, role = get_image(request.user, image_id, Role.EDITOR)
    form: ImageEditForm | PictureEditForm
    if image.library.is_instance:
        form = PictureEditForm(request.POST)
    else:
        kept = (image.pending_update or {}).get("brief", image.brief)
        form = ImageEditForm(request.POST, library=image.library, kept_brief=kept)
    if form.is_valid():
        try:
            if isinstance(form, PictureEditForm):
                images.image_update(actor=request.user, image=image, picture=form.picture)
            else:
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
def pictures_delete(request: AuthedRequest, library_id: int, by: str) -> HttpResponse:
    """Delete every picture of a product (`by="product"`) or every picture matching a filter
    (`by="filter"`): a GET counts what it takes, the POST with the typed confirmation deletes."""
    library, _role = get_library(request.user, library_id, Role.EDITOR)
    if not library.is_instance:
        raise Http404
    posted = request.method == "POST"
    form = PictureDeleteForm(request.POST if posted else (request.GET or None), by=by)
    preview: DeletePreview | None = None
    if form.is_bound and form.is_valid():
        selection = PictureSelection(
            product_id=form.cleaned_data.get("product_id") or "",
            conditions=tuple(form.conditions),
            any_of=by == "filter" and form.any_of,
        )
        if posted:
            try:
                done = images.pictures_delete(
                    actor=request.user,
                    library=library,
                    selection=selection,
                    confirm=form.cleaned_data["confirm"],
                )
            except ValidationError as exc:
                add_errors(form, exc)
            else:
                messages.success(
                    request,
                    ngettext(
                        "Deleting %(n)s picture, and what other clients added with one call.",
                        "Deleting %(n)s pictures, and what other clients added with one call.",
                        done.rows,
                    )
                    % {"n": counted(done.rows)},
                )
                return redirect("gallery:library", library.pk)
        try:
            preview = images.pictures_delete_preview(library=library, selection=selection)
        except ValidationError as exc:
            add_errors(form, exc)
    context = {
        "library": library,
        "application": library.application,
        "by": by,
        "form": form,
        "preview": preview,
        "builtin": library.application.builtin,
    }
    status = 400 if posted or (form.is_bound and form.errors) else 200
    return render(request, "gallery/confirm_delete_pictures.html", context, status=status)


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
