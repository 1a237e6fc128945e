"""The state of a job (`Batch`) that every kind of job shares: its problems, stopping when the
library is full, and settling once nothing is left in flight (console §3.5, §3.9, §3.13)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from gallery.backends import backend_class
from gallery.explain import NOT_SENT_FULL
from gallery.models import Batch, Image, ImageStatus, Library
from gallery.services import teardown
from gallery.services.rows import IN_FLIGHT, set_status
from gallery.services.task_base import wait_start
from gallery.texts import text_json
from searchapi.errors import ApiError

log = logging.getLogger(__name__)


def full_message() -> str:
    return _(
        "The library is full: the remaining images were not sent. Expand its capacity, "
        "then retry the failed ones."
    )


def problem_of(
    name: str,
    code: Any,
    message: str,
    duplicate: Image | None = None,
    proposal: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One line of a job's problems (`Batch.problems`), as stored; `proposal`: what a refused
    duplicate would have had (uploads.DuplicateImage). A `Text` message is kept as its msgid
    and parameters too (`text`), so that each viewer reads it in their language."""
    return {
        "name": name[:300],
        "code": code,
        "message": message[:500],
        "text": text_json(message),
        "duplicate": duplicate.pk if duplicate is not None else None,
        # The line names the row already here, not the file that was refused for it.
        "duplicate_brief": duplicate.brief if duplicate is not None else None,
        "proposal": proposal,
    }


def batch_problem(
    batch_id: int,
    name: str,
    code: Any,
    message: str,
    duplicate: Image | None = None,
    proposal: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Record an input of the job that never became a row (a bad file, a failed download);
    returns it as stored."""
    problem = problem_of(name, code, message, duplicate, proposal)
    with transaction.atomic():
        batch = Batch.objects.select_for_update().get(pk=batch_id)
        batch.problems = [*batch.problems, problem]
        batch.save(update_fields=["problems", "updated_at"])
    return problem


def not_sent_full(library: Library) -> ApiError:
    """What a row that did not fit carries: the backend's "full" code, so that "Retry failed"
    sends it once the capacity is raised."""
    full = backend_class(library.application.backend).codes.full
    return ApiError(full, NOT_SENT_FULL, retryable=False)


def batch_stop_full(batch_id: int) -> None:
    """The backend said the library is full: send nothing more. The rows not sent yet are kept,
    failed as not sent, for "Retry failed" after the capacity is raised."""
    with transaction.atomic():
        batch = (
            Batch.objects.select_for_update()
            .select_related("library__application")
            .get(pk=batch_id)
        )
        if batch.status == Batch.Status.RUNNING:
            batch.status = Batch.Status.FULL
            batch.message = full_message()
            batch.finished_at = timezone.now()
            batch.feeding = False
            batch.save()
        error = not_sent_full(batch.library)
        for row in Image.objects.select_for_update().filter(
            batch_id=batch_id, status=ImageStatus.PENDING
        ):
            set_status(row, ImageStatus.FAILED, error)
            row.save()


def batch_settle(*, batch_id: int) -> None:
    """Mark a running batch done once nothing feeds it and none of its rows is in flight."""
    batch = Batch.objects.filter(pk=batch_id).first()
    if batch is None or batch.status != Batch.Status.RUNNING or batch.feeding:
        return
    if batch.kind == Batch.Kind.UPLOAD and batch.cursor < len(batch.urls):
        return  # URLs still to download
    if batch.kind in (Batch.Kind.CLEAR, Batch.Kind.DELETE):
        busy = batch.library.images.listed().exists()
    else:
        busy = batch.images.filter(status__in=IN_FLIGHT).exists()
    if busy:
        return
    if batch.kind == Batch.Kind.DELETE:
        _library_deleted(batch)
        return
    # Files that did not fit were kept as rows not sent: the batch ends as stopped by a full
    # library, to be finished by "Retry failed" after the capacity is raised.
    full = batch.images.filter(status=ImageStatus.FAILED, error_msg=NOT_SENT_FULL).exists()
    Batch.objects.filter(pk=batch_id, status=Batch.Status.RUNNING, feeding=False).update(
        status=Batch.Status.FULL if full else Batch.Status.DONE,
        message=full_message() if full else "",
        finished_at=timezone.now(),
    )


def _library_deleted(batch: Batch) -> None:
    """The backend holds none of the library's images any more: the library goes (its rows,
    files and this job with it), and its application too if it was being deleted and this was
    its last library."""
    application = batch.library.application
    teardown.library_drop(library=batch.library)
    application.refresh_from_db()
    if application.deleting_since is not None and not application.libraries.exists():
        teardown.application_drop(actor=None, application=application)


def job_give_up(batch_id: int) -> Callable[[ApiError], None]:
    """What a job's task does once its retries are spent: the job waits for the backend, with
    the error on show, and the sweeper resumes it after the wait (it resumes where it stopped).
    """

    def give_up(exc: ApiError) -> None:
        log.warning("job %s waits for the backend: %s %s", batch_id, exc.error_code, exc.error_msg)
        with transaction.atomic():
            batch = Batch.objects.select_for_update().filter(pk=batch_id).first()
            if batch is None or batch.status != Batch.Status.RUNNING:
                return
            batch.message = f"{exc.error_code} {exc.error_msg}"[:300]
            wait_start(batch)
            batch.save()

    return give_up
