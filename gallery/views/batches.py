"""Background jobs of a library: starting a clear, re-push or copy, and the job's own page
(progress, cancel, retry the failed rows). Upload batches start from the upload page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from gallery.access import can, editable_libraries, get_batch, get_library
from gallery.forms import ClearForm, CopyForm
from gallery.models import Application, Batch, ImageStatus, Role
from gallery.selectors import batches, copies, counts
from gallery.services import jobs
from gallery.services.batches import full_message
from gallery.views.helpers import AuthedRequest, add_errors, counted, problem_json


@login_required
@require_GET
def batch_detail(request: AuthedRequest, batch_id: int) -> HttpResponse:
    batch, role = get_batch(request.user, batch_id)
    library = batch.library
    progress = batches.batch_progress(batch)
    context = {
        "batch": batch,
        "library": library,
        "application": library.application,
        "progress": progress,
        "can_edit": can(role, Role.EDITOR),
        "failed": progress.counts.get(ImageStatus.FAILED, 0),
        # What "Retry failed" would send (duplicates are not retried): while the job runs,
        # failures may still come, so the button stays until it is done.
        "retryable": batch.running
        or batch.images.filter(status=ImageStatus.FAILED, duplicate_of__isnull=True).exists(),
        "problems": [problem_json(p, library.service) for p in progress.problems],
        # A job stopped by a full library says so in the viewer's language, whoever's task
        # stopped it; other messages are a backend's error, shown as it answered.
        "batch_message": full_message() if batch.status == Batch.Status.FULL else batch.message,
    }
    if request.GET.get("fragment"):
        return render(request, "gallery/_batch_progress.html", context)
    return render(request, "gallery/batch.html", context)


@login_required
@require_POST
def batch_cancel(request: AuthedRequest, batch_id: int) -> HttpResponse:
    batch, _role = get_batch(request.user, batch_id, Role.EDITOR)
    try:
        n = jobs.batch_cancel(actor=request.user, batch=batch)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            ngettext(
                "Cancelled; %(n)s image was not sent.", "Cancelled; %(n)s images were not sent.", n
            )
            % {"n": counted(n)},
        )
    return redirect("gallery:batch", batch.pk)


@login_required
@require_POST
def batch_retry(request: AuthedRequest, batch_id: int) -> HttpResponse:
    batch, _role = get_batch(request.user, batch_id, Role.EDITOR)
    try:
        n = jobs.batch_retry_failed(actor=request.user, batch=batch)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.info(
            request,
            ngettext("%(n)s failed image queued again.", "%(n)s failed images queued again.", n)
            % {"n": counted(n)},
        )
    return redirect("gallery:batch", batch.pk)


@login_required
def library_clear(request: AuthedRequest, library_id: int) -> HttpResponse:
    library, _role = get_library(request.user, library_id, Role.EDITOR)
    form = ClearForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            batch = jobs.library_clear(
                actor=request.user, library=library, confirm=form.cleaned_data["confirm"]
            )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            return redirect("gallery:batch", batch.pk)
    context = {
        "library": library,
        "application": library.application,
        "form": form,
        "builtin": library.application.backend == Application.Backend.BUILTIN,
        "count": counts.library_counts(library).total,
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "gallery/library_clear.html", context, status=status)


@login_required
@require_POST
def library_repush(request: AuthedRequest, library_id: int) -> HttpResponse:
    library, _role = get_library(request.user, library_id, Role.EDITOR)
    try:
        batch = jobs.library_repush(actor=request.user, library=library)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("gallery:library", library.pk)
    return redirect("gallery:batch", batch.pk)


@login_required
def library_copy(request: AuthedRequest, library_id: int) -> HttpResponse:
    """GET: pick the target; with `?target=` the preview of the mapping and the first rows.
    POST: start the copy, then the job's page."""
    library, _role = get_library(request.user, library_id, Role.EDITOR)
    choices = editable_libraries(request.user, excluding=library)
    posted = request.method == "POST"
    data = request.POST if posted else (request.GET if "target" in request.GET else None)
    form = CopyForm(data, choices=choices)
    preview = None
    if form.is_valid():
        target = form.cleaned_data["target"]
        if posted:
            try:
                batch = jobs.library_copy(actor=request.user, source=library, target=target)
            except ValidationError as exc:
                add_errors(form, exc)
            else:
                return redirect("gallery:batch", batch.pk)
        else:
            preview = copies.copy_preview(source=library, target=target)
    context = {
        "library": library,
        "application": library.application,
        "form": form,
        "preview": preview,
        "target": form.cleaned_data.get("target") if form.is_bound and not form.errors else None,
    }
    status = 400 if data is not None and form.errors else 200
    return render(request, "gallery/library_copy.html", context, status=status)
