"""Deleting a library or a whole application, confirmed by typing its name (owners).

Built-in engine: one step, in one transaction. The engine's library (or instance, or the
application with its keys) is deleted in-process with every image in it, whoever added it,
then our rows; the kept originals and thumbnails are removed from storage once that commits
(`gallery.services.teardown`).

Hosted (Baidu, Alibaba): the backend part comes first and may meet an outage, so it is a job
(a `Batch` of kind delete, with progress) and the library is marked `deleting_since` meanwhile,
which refuses new images. The job sends every known image through the usual delete path
(`images_delete`: ≤ 100 per call, throttled, retried, waiting for the backend as long as it
takes, never given up), and each row's files go when the backend has deleted it. Once no row
is left the job settles (`batches.batch_settle`): the library row goes, and for an
application being deleted, the application with its last library. The library itself stays
in the cloud's console (Tuku cannot delete it there), and so do images other clients added.
"""

from __future__ import annotations

from celery import shared_task
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from gallery.backends import backend_class
from gallery.models import ActivityVerb, Application, Batch, Library
from gallery.services import teardown
from gallery.services.activity import Actor, acting_user, activity_record
from gallery.services.batches import batch_settle, job_give_up
from gallery.services.images import images_delete
from gallery.services.task_base import ConsoleTask


def _in_process(application: Application) -> bool:
    """Whether the backend holds the libraries in-process (the built-in engine)."""
    return backend_class(application.backend).provisions_libraries


def library_delete(*, actor: Actor, library: Library, confirm: str) -> Batch | None:
    """Delete a library; `confirm` must be its `confirm_name`. Built-in: done when this
    returns (None). Hosted: the job that deletes its images from the backend first."""
    if confirm.strip() != library.confirm_name:
        raise ValidationError(
            {"confirm": _("Type %(name)s to confirm.") % {"name": library.confirm_name}}
        )
    if library.deleting_since is not None:
        raise ValidationError(_("This library is already being deleted."))
    application = library.application
    with transaction.atomic():
        counts = _counts(library)
        activity_record(
            actor=actor,
            application=application,
            verb=ActivityVerb.LIBRARY_DELETE,
            obj=library,
            **counts,
        )
        if _in_process(application):
            teardown.library_drop(library=library)
            return None
        return _delete_job(actor, library, counts["images"])


def _counts(library: Library) -> dict[str, int]:
    rows = library.images.listed()
    return {"images": rows.count(), "originals": rows.exclude(original="").count()}


def _delete_job(actor: Actor, library: Library, total: int) -> Batch:
    """Mark the library deleting, stop its running jobs and start the delete job."""
    Library.objects.filter(pk=library.pk).select_for_update().first()
    library.deleting_since = timezone.now()
    library.save(update_fields=["deleting_since"])
    # Uploads, copies and re-pushes into it stop feeding; their rows not sent yet are deleted
    # locally by the job (never sent), the others through the backend.
    library.batches.filter(status=Batch.Status.RUNNING).update(
        status=Batch.Status.CANCELLED, feeding=False, finished_at=timezone.now()
    )
    batch = Batch.objects.create(
        library=library,
        kind=Batch.Kind.DELETE,
        created_by=acting_user(actor),
        total=total,
        feeding=True,
    )
    library_delete_task.enqueue(batch.pk)
    return batch


def library_delete_run(*, batch_id: int, chunk: int = 500) -> None:
    """Send every row of the library to the delete path, then settle (which removes the
    library once the backend has deleted them all). Resumable: rows already deleting are
    queued again, which does no harm (a delete of an image already gone succeeds)."""
    batch = Batch.objects.select_related("library__application").filter(pk=batch_id).first()
    if batch is None or batch.status != Batch.Status.RUNNING:
        return
    last = 0
    while True:
        rows = list(batch.library.images.listed().filter(pk__gt=last).order_by("pk")[:chunk])
        if not rows:
            break
        images_delete(actor=batch.created_by, images=rows)
        last = rows[-1].pk
    Batch.objects.filter(pk=batch_id).update(feeding=False)
    batch_settle(batch_id=batch_id)


@shared_task(
    base=ConsoleTask, bind=True, name="gallery.tasks.library_delete", holds=Batch, exclusive=True
)
def library_delete_task(self: ConsoleTask, batch_id: int) -> None:
    self.run_retrying(lambda: library_delete_run(batch_id=batch_id), job_give_up(batch_id))


def application_delete(*, actor: Actor, application: Application, confirm: str) -> list[Batch]:
    """Delete an application, its libraries (as `library_delete`), memberships and, for the
    built-in engine, its keys; `confirm` must be its name. Returns the delete jobs of its
    hosted libraries (none: it is gone already)."""
    if confirm.strip() != application.name:
        raise ValidationError(
            {"confirm": _("Type %(name)s to confirm.") % {"name": application.name}}
        )
    if application.deleting_since is not None:
        raise ValidationError(_("This application is already being deleted."))
    with transaction.atomic():
        libraries = list(application.libraries.all())
        activity_record(
            actor=actor,
            application=application,
            verb=ActivityVerb.APPLICATION_DELETE,
            obj=application,
            libraries=[library.display_name for library in libraries],
            images=sum(_counts(library)["images"] for library in libraries),
        )
        if _in_process(application):
            teardown.application_drop(actor=actor, application=application)
            return []
        Application.objects.filter(pk=application.pk).select_for_update().first()
        application.deleting_since = timezone.now()
        application.save(update_fields=["deleting_since"])
        jobs = []
        for library in libraries:
            if library.deleting_since is not None:
                continue  # its job is at work already, and finishes the application too
            counts = _counts(library)
            activity_record(
                actor=actor,
                application=application,
                verb=ActivityVerb.LIBRARY_DELETE,
                obj=library,
                **counts,
            )
            jobs.append(_delete_job(actor, library, counts["images"]))
        if not libraries:
            teardown.application_drop(actor=actor, application=application)
        return jobs
