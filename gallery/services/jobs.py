"""Jobs a user starts on a whole library or batch: re-push, copy, clear, cancel, retry.

Each job is a `Batch` with live progress; the long part runs in a task that resumes where it
stopped (`cursor`), so a redelivered message or a restarted worker loses nothing.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import PurePosixPath
from typing import Any

from celery import shared_task
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from gallery.backends import backend_for
from gallery.mapping import Mapped, Side, SourceRow, file_name_of, map_row, unique_pic_name
from gallery.models import ActivityVerb, Batch, Image, ImageStatus, Library
from gallery.services.activity import Actor, acting_user, activity_record
from gallery.services.batches import batch_problem, batch_settle, job_give_up, problem_of
from gallery.services.images import images_delete
from gallery.services.rows import read_original, remove_files, set_status, tombstone
from gallery.services.sync import images_add_enqueue
from gallery.services.task_base import ConsoleTask
from gallery.services.uploads import UploadError, image_upload, refusal_of
from gallery.texts import Text


def batch_cancel(*, actor: Actor, batch: Batch) -> int:
    """Stop a batch: rows not sent yet go without a remote call. Returns how many."""
    if batch.kind == Batch.Kind.CLEAR:
        raise ValidationError(_("Clearing a library cannot be cancelled."))
    if batch.kind == Batch.Kind.DELETE:
        raise ValidationError(_("Deleting a library cannot be cancelled."))
    files: list[str] = []
    not_sent: list[dict[str, Any]] = []
    n = 0
    with transaction.atomic():
        locked = Batch.objects.select_for_update().get(pk=batch.pk)
        if locked.status != Batch.Status.RUNNING:
            raise ValidationError(_("This batch is not running."))
        locked.status = Batch.Status.CANCELLED
        locked.feeding = False
        locked.finished_at = timezone.now()
        locked.save()
        # A pending row's task has not started (it would hold the row's lock): it will find the
        # row changed and stop. Rows already being sent finish on their own.
        for row in Image.objects.select_for_update().filter(
            batch_id=batch.pk, status=ImageStatus.PENDING
        ):
            n += 1
            if locked.kind == Batch.Kind.REPUSH:
                # The row existed before the job: put it back as it was, never delete it.
                if row.cont_sign:
                    set_status(row, ImageStatus.INDEXED)
                else:
                    set_status(row, ImageStatus.FAILED)
                    row.error_msg = _("not sent: the re-push was cancelled")
                row.save()
            else:
                # The job's page lists what it did not send, since the row itself goes.
                name = file_name_of(row.source) or row.brief
                not_sent.append(problem_of(name, "", _("Not sent: the batch was cancelled.")))
                files += tombstone(row)
        if not_sent:
            locked.problems = [*locked.problems, *not_sent]
            locked.save(update_fields=["problems", "updated_at"])
        activity_record(
            actor=actor,
            application=batch.library.application,
            verb=ActivityVerb.BATCH_CANCEL,
            obj=locked,
            not_sent=n,
        )
        transaction.on_commit(lambda: remove_files(*files))
    batch.refresh_from_db()
    return n


def batch_retry_failed(*, actor: Actor, batch: Batch) -> int:
    """Push the batch's failed rows again (not the ones that are duplicates of another row)."""
    if batch.kind in (Batch.Kind.CLEAR, Batch.Kind.DELETE):
        raise ValidationError(_("Clearing a library has nothing to retry."))
    with transaction.atomic():
        locked = Batch.objects.select_for_update().get(pk=batch.pk)
        rows = list(
            Image.objects.select_for_update().filter(
                batch_id=batch.pk, status=ImageStatus.FAILED, duplicate_of__isnull=True
            )
        )
        if not rows:
            raise ValidationError(_("No failed image to retry."))
        for row in rows:
            set_status(row, ImageStatus.PENDING)
            row.save()
        images_add_enqueue([row.pk for row in rows])
        locked.status = Batch.Status.RUNNING
        locked.message = ""
        locked.finished_at = None
        locked.save()
        activity_record(
            actor=actor,
            application=batch.library.application,
            verb=ActivityVerb.BATCH_RETRY,
            obj=locked,
            images=len(rows),
        )
    batch.refresh_from_db()
    return len(rows)


# --- re-push --------------------------------------------------------------------------------


def library_repush(*, actor: Actor, library: Library) -> Batch:
    """Re-add every settled live row from its stored bytes. Rows added through the API have no
    original and are left as they are."""
    with transaction.atomic():
        rows = list(
            library.images.select_for_update()
            .filter(status__in=[ImageStatus.INDEXED, ImageStatus.FAILED])
            .exclude(original="")
            .order_by("pk")
        )
        if not rows:
            raise ValidationError(_("This library has no image with a stored original to push."))
        batch = Batch.objects.create(
            library=library,
            kind=Batch.Kind.REPUSH,
            created_by=acting_user(actor),
            total=len(rows),
        )
        for row in rows:
            set_status(row, ImageStatus.PENDING)
            row.batch = batch
            row.duplicate_of = None
            row.save()
        images_add_enqueue([row.pk for row in rows])
        activity_record(
            actor=actor,
            application=library.application,
            verb=ActivityVerb.LIBRARY_REPUSH,
            obj=library,
            images=len(rows),
        )
    return batch


# --- copy -----------------------------------------------------------------------------------


def library_copy(*, actor: Actor, source: Library, target: Library) -> Batch:
    """Copy the live rows into another library, of either wire, and push them there: each kept
    original is uploaded again with its metadata mapped for the target (`gallery.mapping`),
    through `image_upload`, so the target's own rules apply. Rows are made by a task,
    resumable at `cursor`; rows without an original become problems of the job."""
    if target.pk == source.pk:
        raise ValidationError({"target": _("Choose another library.")})
    total = source.images.live().count()
    if not source.images.live().exclude(original="").exists():
        raise ValidationError(_("This library has no image with a stored original to copy."))
    with transaction.atomic():
        batch = Batch.objects.create(
            library=target,
            source_library=source,
            kind=Batch.Kind.COPY,
            created_by=acting_user(actor),
            total=total,
            feeding=True,
        )
        activity_record(
            actor=actor,
            application=target.application,
            verb=ActivityVerb.LIBRARY_COPY,
            obj=batch,
            source=str(source),
            images=total,
        )
        library_copy_task.enqueue(batch.pk)
    return batch


def library_copy_run(*, batch_id: int, chunk: int = 50) -> None:
    """Make the target rows in chunks, resuming after `cursor`."""
    while True:
        batch = Batch.objects.select_related("library__application", "source_library").get(
            pk=batch_id
        )
        source = batch.source_library
        # Stopped by a full library, it goes on: what does not fit is kept, not sent.
        going = (Batch.Status.RUNNING, Batch.Status.FULL)
        if batch.status not in going or source is None:
            break
        rows = list(
            source.images.live()
            .select_related("picture")
            .filter(pk__gt=batch.cursor)
            .order_by("pk")[:chunk]
        )
        if not rows:
            break
        for row in rows:
            if not Batch.objects.filter(pk=batch_id, status__in=going).exists():
                break
            if not row.original:
                batch_problem(
                    batch_id,
                    row.brief,
                    "",
                    Text("Not copied: no original is kept (it was added through the API)."),
                )
            else:
                _copy_row(
                    batch, row, map_row(SourceRow.of(row), Side.of(source), Side.of(batch.library))
                )
            # Only this task moves the cursor; a redelivered message resumes after this row,
            # and one that copied it but died before this line finds its copy already there.
            Batch.objects.filter(pk=batch_id).update(cursor=row.pk)
    Batch.objects.filter(pk=batch_id).update(feeding=False)
    batch_settle(batch_id=batch_id)


def _copy_row(batch: Batch, row: Image, mapped: Mapped) -> None:
    """Upload one source row into the job's library; a refusal becomes one of its problems."""
    target = batch.library
    picture = mapped.picture
    if picture is not None:
        product_id = picture.product_id
        there: list[Image] = []

        def taken(name: str) -> bool:
            # A name whose holder has these very bytes is where this picture already is (a
            # copy run before, renamed or not): the search stops there and nothing is sent.
            holder = _picture_holder(target, product_id, name)
            if holder is not None and holder.sha256 == row.sha256:
                there.append(holder)
                return False
            return holder is not None

        picture = replace(picture, pic_name=unique_pic_name(picture.pic_name, taken))
        if there:
            batch_problem(
                batch.pk,
                row.brief,
                "",
                Text("This picture is already there."),
                duplicate=there[0],
            )
            return
    try:
        data = read_original(row)
    except OSError as exc:
        batch_problem(batch.pk, row.brief, "internal", str(exc))
        return
    name = file_name_of(row.source) or PurePosixPath(str(row.original.name)).name
    try:
        image_upload(
            actor=batch.created_by,
            library=target,
            data=data,
            filename=name,
            brief=mapped.brief if picture is None else None,
            labels=mapped.labels,
            source_kind=row.source_kind,
            source=row.source,
            batch=batch,
            picture=picture,
            keep_when_full=True,
        )
    except UploadError as exc:
        refusal = refusal_of(exc)
        batch_problem(batch.pk, row.brief, refusal.code, refusal.message, refusal.duplicate)


def _picture_holder(library: Library, product_id: str, pic_name: str) -> Image | None:
    """The live row of `library` that holds this pair, if any."""
    return (
        library.images.live()
        .filter(picture__product_id=product_id, picture__pic_name=pic_name)
        .first()
    )


@shared_task(
    base=ConsoleTask, bind=True, name="gallery.tasks.batch_copy", holds=Batch, exclusive=True
)
def library_copy_task(self: ConsoleTask, batch_id: int) -> None:
    self.run_retrying(lambda: library_copy_run(batch_id=batch_id), job_give_up(batch_id))


# --- clear ----------------------------------------------------------------------------------


def library_clear(*, actor: Actor, library: Library, confirm: str) -> Batch:
    """Empty a library; the work runs in a task with progress."""
    if confirm.strip() != library.confirm_name:
        raise ValidationError(
            {"confirm": _("Type %(name)s to confirm.") % {"name": library.confirm_name}}
        )
    with transaction.atomic():
        batch = Batch.objects.create(
            library=library,
            kind=Batch.Kind.CLEAR,
            created_by=acting_user(actor),
            total=library.images.listed().count(),
            feeding=True,
        )
        activity_record(
            actor=actor,
            application=library.application,
            verb=ActivityVerb.LIBRARY_CLEAR,
            obj=library,
            images=batch.total,
        )
        library_clear_task.enqueue(batch.pk)
    return batch


def library_clear_run(*, batch_id: int, chunk: int = 500) -> None:
    """Where the backend can empty the library at once, it does, then every row becomes a
    tombstone; elsewhere every known row is deleted through the usual path."""
    batch = Batch.objects.select_related("library__application").get(pk=batch_id)
    if batch.status != Batch.Status.RUNNING:
        return
    library = batch.library
    if backend_for(library.application).library_empty(library):
        while True:
            files: list[str] = []
            with transaction.atomic():
                rows = list(
                    Image.objects.select_for_update().filter(library=library).listed()[:chunk]
                )
                for row in rows:
                    files += tombstone(row)
            remove_files(*files)
            if len(rows) < chunk:
                break
    else:
        last = 0
        while True:
            rows = list(library.images.live().filter(pk__gt=last).order_by("pk")[:chunk])
            if not rows:
                break
            images_delete(actor=batch.created_by, images=rows)
            last = rows[-1].pk
    Batch.objects.filter(pk=batch_id).update(feeding=False)
    batch_settle(batch_id=batch_id)


@shared_task(
    base=ConsoleTask, bind=True, name="gallery.tasks.library_clear", holds=Batch, exclusive=True
)
def library_clear_task(self: ConsoleTask, batch_id: int) -> None:
    self.run_retrying(lambda: library_clear_run(batch_id=batch_id), job_give_up(batch_id))
