"""The upload page and the upload batch it feeds: files go into the library in the request,
URLs always through a batch, whose task downloads them (a request never calls out)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from gallery.access import get_batch, get_library
from gallery.forms import CheckForm, ThresholdForm, UploadForm
from gallery.labels import Labels
from gallery.models import Batch, Image, Library, Role
from gallery.pictures import PictureFields
from gallery.selectors import batches, images
from gallery.services import uploads
from gallery.services.libraries import library_set_match_threshold
from gallery.views.helpers import (
    AuthedRequest,
    add_errors,
    image_json,
    problem_json,
    read_upload,
    refusal_json,
    upload_limit,
    wants_json,
)


def _upload_one(
    request: AuthedRequest,
    library: Library,
    *,
    data: bytes,
    name: str,
    brief: str | None,
    labels: Labels,
    picture: PictureFields,
) -> dict[str, Any]:
    """Upload one file; the result line the page shows for it, success or not."""
    try:
        image = uploads.image_upload(
            actor=request.user,
            library=library,
            data=data,
            filename=name,
            brief=brief or None,
            labels=labels,
            picture=picture,
        )
    except uploads.UploadError as exc:
        refusal = uploads.refusal_of(exc)
        holder = refusal.duplicate
        duplicate = (holder.pk, holder.brief) if holder is not None else None
        return refusal_json(
            name, refusal.code, refusal.message, library.service, duplicate, refusal.proposal
        )
    line: dict[str, Any] = {"name": name, "ok": True, "image": image_json(image, library.service)}
    if images.brief_taken(image):
        line["warning"] = _("Another image in this library has the same brief.")
    return line


def _too_big(upload: UploadedFile, library: Library) -> dict[str, Any]:
    size = (upload.size or 0) / 2**20
    message = _("The file is %(size).1f MiB; the limit is %(limit)d MiB.") % {
        "size": size,
        "limit": upload_limit(library) // 2**20,
    }
    code = "BadRequest" if library.is_instance else 216202
    return refusal_json(upload.name or "image", code, message, library.service, None)


def _into_batch(batch: Batch, files: list[UploadedFile]) -> list[dict[str, Any]]:
    """Post files into a running upload batch: one result line each, as the upload page's."""
    service, limit = batch.library.service, upload_limit(batch.library)
    added = uploads.batch_add_files(
        batch=batch, files=[(read_upload(upload, limit), upload.name or "") for upload in files]
    )
    return [
        (
            {"name": upload.name, "ok": True, "image": image_json(result, service)}
            if isinstance(result, Image)
            else problem_json(result, service)
        )
        for upload, result in zip(files, added, strict=True)
    ]


def _check_inputs(form: UploadForm, files: list[UploadedFile]) -> None:
    """Something to upload, and a brief only where there is one input to give it to."""
    urls = form.cleaned_data["urls"]
    if not files and not urls:
        form.add_error(None, _("Choose at least one file or give a URL."))
    elif form.cleaned_data.get("brief") and len(files) + len(urls) > 1:
        message = _(
            "A brief can be given for a single file only; each file of a batch gets its file name."
        )
        form.add_error("brief", message)
    elif form.cleaned_data.get("pic_name") and len(files) + len(urls) > 1:
        message = _(
            "A picture name can be given for a single file only; each file of a batch gets its "
            "file name."
        )
        form.add_error("pic_name", message)


@login_required
def library_upload(request: AuthedRequest, library_id: int) -> HttpResponse:
    library, _role = get_library(request.user, library_id, Role.EDITOR)
    form = UploadForm(request.POST if request.method == "POST" else None, library=library)
    results: list[dict[str, Any]] = []
    if request.method == "POST":
        files = request.FILES.getlist("files")
        if form.is_valid():
            _check_inputs(form, files)
        if not form.is_valid():
            if wants_json(request):
                return JsonResponse(
                    {"ok": False, "errors": form.errors.get_json_data()}, status=400
                )
        elif form.cleaned_data["urls"]:
            answer = _upload_through_batch(request, library, form, files)
            if answer is not None:
                return answer
        else:
            brief, labels = form.cleaned_data.get("brief"), form.labels
            for upload in files:
                data = read_upload(upload, upload_limit(library))
                if data is None:
                    results.append(_too_big(upload, library))
                    continue
                name = upload.name or "image"
                results.append(
                    _upload_one(
                        request,
                        library,
                        data=data,
                        name=name,
                        brief=brief,
                        labels=labels,
                        picture=form.picture,
                    )
                )
            if wants_json(request):
                return JsonResponse({"ok": True, "results": results})
    status = 400 if request.method == "POST" and not form.is_valid() else 200
    return _upload_page(request, library, form=form, results=results, status=status)


def _upload_page(
    request: AuthedRequest,
    library: Library,
    *,
    form: UploadForm,
    results: list[dict[str, Any]] | None = None,
    threshold_form: ThresholdForm | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "library": library,
        "application": library.application,
        "form": form,
        "results": results or [],
        "recent": images.recent_uploads(library, request.user),
        "batches": batches.library_batches(library, 5),
        "check_form": CheckForm(),
        "threshold_form": threshold_form
        or ThresholdForm(initial={"threshold": f"{library.match_threshold:.2f}"}),
        "max_bytes": upload_limit(library),
    }
    return render(request, "gallery/upload.html", context, status=status)


@login_required
@require_POST
def library_threshold(request: AuthedRequest, library_id: int) -> HttpResponse:
    """Set the library's "already here?" threshold, from the upload page."""
    library, _role = get_library(request.user, library_id, Role.EDITOR)
    form = ThresholdForm(request.POST)
    if form.is_valid():
        try:
            library_set_match_threshold(
                actor=request.user, library=library, threshold=float(form.cleaned_data["threshold"])
            )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            messages.success(
                request,
                _("“Likely in library” now from score %(t).2f.") % {"t": library.match_threshold},
            )
            return redirect(reverse("gallery:upload", args=[library.pk]) + "#check-title")
    return _upload_page(
        request, library, form=UploadForm(library=library), threshold_form=form, status=400
    )


def _upload_through_batch(
    request: AuthedRequest, library: Library, form: UploadForm, files: list[UploadedFile]
) -> HttpResponse | None:
    """URLs given: every input goes into one batch, whose task downloads the URLs; the page
    follows the batch. None: the batch was refused and the errors are on the form."""
    try:
        batch = uploads.batch_create(
            actor=request.user,
            library=library,
            urls=form.cleaned_data["urls"],
            brief=form.cleaned_data.get("brief") or "",
            labels=form.labels,
            files_follow=bool(files),
            picture=form.picture,
        )
    except ValidationError as exc:
        add_errors(form, exc)
        return None
    results = _into_batch(batch, files)
    if files:
        uploads.batch_close(batch=batch)
    url = reverse("gallery:batch", args=[batch.pk])
    if wants_json(request):
        return JsonResponse({"ok": True, "results": results, "batch": {"id": batch.pk, "url": url}})
    return redirect(url)


@login_required
@require_POST
def batch_new(request: AuthedRequest, library_id: int) -> HttpResponse:
    """Start an upload batch: URLs go to a task at once; files, if any, are posted after."""
    library, _role = get_library(request.user, library_id, Role.EDITOR)
    form = UploadForm(request.POST, library=library)
    files = request.FILES.getlist("files")
    follow = request.POST.get("files_follow") == "1"
    if form.is_valid() and not (files or follow or form.cleaned_data["urls"]):
        form.add_error(None, _("Choose at least one file or give a URL."))
    batch = None
    if form.is_valid():
        single = len(files) == 1 and follow is False
        picture = form.picture
        if not single:
            picture = replace(picture, pic_name="")
        try:
            batch = uploads.batch_create(
                actor=request.user,
                library=library,
                urls=form.cleaned_data["urls"],
                brief=(form.cleaned_data.get("brief") or "") if single else "",
                labels=form.labels,
                files_follow=follow or bool(files),
                picture=picture,
            )
        except ValidationError as exc:
            add_errors(form, exc)
    if batch is None:
        return JsonResponse({"ok": False, "errors": form.errors.get_json_data()}, status=400)
    _into_batch(batch, files)
    if files and not follow:
        uploads.batch_close(batch=batch)
    url = reverse("gallery:batch", args=[batch.pk])
    if not wants_json(request):
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
def batch_files(request: AuthedRequest, batch_id: int) -> JsonResponse:
    """Files posted into a running upload batch, one result line each (as the upload page)."""
    batch, _role = get_batch(request.user, batch_id, Role.EDITOR)
    if batch.kind != Batch.Kind.UPLOAD:
        raise Http404
    return JsonResponse({"ok": True, "results": _into_batch(batch, request.FILES.getlist("files"))})


@login_required
@require_POST
def batch_close(request: AuthedRequest, batch_id: int) -> HttpResponse:
    batch, _role = get_batch(request.user, batch_id, Role.EDITOR)
    uploads.batch_close(batch=batch)
    if wants_json(request):
        return JsonResponse({"ok": True})
    return redirect("gallery:batch", batch.pk)
