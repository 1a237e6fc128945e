"""The backend side of an image's life, run by tasks: add, update and delete calls.

Each step is safe to run twice, concurrently, or after a crash: it re-reads the row, returns
when there is nothing to do, and raises ApiError only when a retry may help (terminal errors
are recorded on the row). A transient error that outlives the task's retries never fails a
row: it waits for the backend and the sweeper sends it again (`gallery.services.task_base`).
`image_add_task` runs `images_add_run`, and so on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from gallery.backends import backend_for
from gallery.backends.base import Backend, Stored
from gallery.labels import Labels
from gallery.models import (
    INT_ATTR_FIELDS,
    STR_ATTR_FIELDS,
    ActivityVerb,
    Batch,
    Image,
    ImageSource,
    ImageStatus,
    Library,
    Picture,
)
from gallery.pictures import PictureFields
from gallery.services.activity import (
    EDIT_DONE,
    EDIT_FAILED,
    activity_edits_last_waiting,
    activity_edits_settle,
    activity_record,
)
from gallery.services.batches import batch_settle, batch_stop_full
from gallery.services.rows import IN_FLIGHT, read_original, remove_files, set_status, tombstone
from gallery.services.task_base import ConsoleTask, wait_start
from searchapi.errors import ApiError
from wire.baidu import MAX_DELETE_BATCH

# A hit this close to 1.0 for the very bytes we tried to add is that same image.
SAME_IMAGE_SCORE = 0.99
# Rows per delete task: the smallest per-call limit of the backends (Baidu's 282006 above it).
DELETE_CHUNK = MAX_DELETE_BATCH
# Rows per add task. The wire adds one image per call; a task of several saves the per-task
# work (the message, the lease, settling the job) for all but one, and a failed call costs
# the rest only a retry. Small enough that two workers share a short upload.
ADD_CHUNK = 8


# --- add ------------------------------------------------------------------------------------


class _Settle:
    """What an add task settles once, after all its rows: the libraries it touched, the jobs
    whose rows it finished, those the backend said were full."""

    def __init__(self) -> None:
        self.libraries: set[int] = set()
        self.batches: set[int] = set()
        self.full: set[int] = set()

    def run(self) -> None:
        if self.libraries:
            Library.objects.filter(pk__in=self.libraries).update(last_activity_at=timezone.now())
        for batch_id in sorted(self.full):
            batch_stop_full(batch_id)
        for batch_id in sorted(self.batches):
            batch_settle(batch_id=batch_id)


def images_add_run(*, image_ids: Sequence[int]) -> None:
    """Add pending rows to their backends, in order, each finished as its answer comes.

    A transient error stops the run there (the backend is most likely away for all of them):
    the rows done stay done, and the retry takes up the rest."""
    with transaction.atomic():
        claimed = list(
            Image.objects.select_for_update()
            .filter(pk__in=image_ids, status__in=IN_FLIGHT)
            .values_list("pk", flat=True)
        )
        Image.objects.filter(pk__in=claimed).update(
            status=ImageStatus.INDEXING,
            status_changed_at=timezone.now(),
            error_code="",
            error_msg="",
            updated_at=timezone.now(),
        )
    rows = list(Image.objects.filter(pk__in=claimed).order_by("pk"))
    # Each library and application once: loading an application decrypts its secret.
    libraries = Library.objects.select_related("application").in_bulk(
        {row.library_id for row in rows}
    )
    backends = {pk: backend_for(library.application) for pk, library in libraries.items()}
    settle = _Settle()
    try:
        for row in rows:
            row.library = libraries[row.library_id]
            _add_one(backends[row.library_id], row, settle)
    finally:
        settle.run()


def _add_one(backend: Backend, row: Image, settle: _Settle) -> None:
    data = read_original(row)
    try:
        stored = backend.add(row.library, row, image=data)
    except ApiError as exc:
        if exc.error_code == backend.codes.exists:
            _link_existing(backend, row, data, settle)
            return
        if exc.retryable:
            raise
        _finish_add(row.pk, backend, settle, error=exc)
        return
    _finish_add(row.pk, backend, settle, cont_sign=stored.ref, stored=stored)


def images_add_wait(*, image_ids: Sequence[int], error: ApiError) -> None:
    """A transient error outlived the retries: the rows not yet added wait for the backend,
    pending, with the error on show, until the sweeper's next attempt."""
    with transaction.atomic():
        for row in Image.objects.select_for_update().filter(pk__in=image_ids, status__in=IN_FLIGHT):
            set_status(row, ImageStatus.PENDING, error)
            wait_start(row)
            row.save()


def _finish_add(
    image_id: int,
    backend: Backend,
    settle: _Settle | None = None,
    *,
    cont_sign: str | None = None,
    error: ApiError | None = None,
    duplicate_of: Image | None = None,
    stored: Stored | None = None,
) -> None:
    with transaction.atomic():
        row = (
            Image.objects.select_for_update(of=("self",)).select_related("library").get(pk=image_id)
        )
        kind = type(backend)
        if cont_sign is not None and cont_sign != row.cont_sign:
            if kind.add_replaces:
                # The add replaced what the backend held under this ref (Alibaba's pair): an
                # older row of it, deleting or not, stands for nothing any more, and its delete
                # must not be sent, or it would remove this row's image.
                twins = row.library.images.exclude(status=ImageStatus.DELETED)
            else:
                # The listing may have mirrored our own add as an API image meanwhile.
                twins = row.library.images.live().filter(source_kind=ImageSource.API)
            twins = twins.filter(cont_sign=cont_sign)
            twin_files: list[str] = []
            for twin in twins.exclude(pk=row.pk).select_for_update():
                twin_files += tombstone(twin)
            transaction.on_commit(lambda: remove_files(*twin_files))
        if cont_sign is not None:
            row.cont_sign = cont_sign
        if stored is not None and row.library.is_instance and hasattr(row, "picture"):
            picture = row.picture
            picture.category_used, picture.region = stored.category_id, stored.region
            picture.save(update_fields=["category_used", "region"])
        if row.status == ImageStatus.INDEXING:
            if cont_sign is not None:
                set_status(row, ImageStatus.INDEXED)
                if row.pending_update:
                    image_update_task.enqueue(row.pk)
            else:
                set_status(row, ImageStatus.FAILED, error)
                row.duplicate_of = duplicate_of
                if row.pending_update:
                    # The edit made while the add was out is lost with it: say so.
                    activity_edits_settle(
                        image_id=row.pk,
                        outcome=EDIT_FAILED,
                        error_code=error.error_code if error else "",
                        error_msg=error.error_msg if error else "",
                    )
                row.pending_update = None
        elif row.status in (ImageStatus.DELETING, ImageStatus.DELETED) and cont_sign:
            # Deleted while the add was in flight: the backend now holds an image nobody wants.
            if row.status == ImageStatus.DELETED:
                set_status(row, ImageStatus.DELETING)
            images_delete_task.enqueue([row.pk])
        row.save()
    alone = settle is None
    settle = settle or _Settle()
    settle.libraries.add(row.library_id)
    if row.batch_id is not None:
        if error is not None and error.error_code == kind.codes.full:
            settle.full.add(row.batch_id)
        settle.batches.add(row.batch_id)
    if alone:
        settle.run()


def _link_existing(backend: Backend, row: Image, data: bytes, settle: _Settle) -> None:
    """The backend says it holds these bytes already. Find out as whose image."""
    library = row.library
    labels = Labels.of(row)
    if row.cont_sign:
        # A re-push of a row the backend still holds: sync brief and labels by image and keep
        # the known ref.
        backend.update(library, image=data, brief=row.brief, labels=labels)
        _finish_add(row.pk, backend, settle, cont_sign=row.cont_sign)
        return
    sibling = (
        library.images.live()
        .filter(sha256=row.sha256, cont_sign__isnull=False)
        .exclude(pk=row.pk)
        .first()
    )
    exists = ApiError(backend.codes.exists, "item exist", retryable=False)
    if sibling is not None:
        _finish_add(row.pk, backend, settle, error=exists, duplicate_of=sibling)
        return
    # No other row holds it: most likely our own earlier attempt, whose answer was lost to a
    # killed worker or a timeout. Find its ref with the same bytes, then make the backend's
    # brief and labels ours.
    page = backend.search(library, image=data, rn=5)
    hit = next((h for h in page.hits if h.score >= SAME_IMAGE_SCORE), None)
    if hit is None:
        _finish_add(row.pk, backend, settle, error=exists)
        return
    holder = library.images.live().filter(cont_sign=hit.ref).exclude(pk=row.pk).first()
    if holder is not None:
        _finish_add(row.pk, backend, settle, error=exists, duplicate_of=holder)
        return
    backend.update(library, ref=hit.ref, brief=row.brief, labels=labels)
    _finish_add(row.pk, backend, settle, cont_sign=hit.ref)


def images_add_enqueue(ids: Sequence[int], *, now: bool = False) -> None:
    """Queue the adds of pending rows, ADD_CHUNK to a task (see `enqueue_chunks`)."""
    image_add_task.enqueue_chunks(ids, ADD_CHUNK, now=now)


@shared_task(
    base=ConsoleTask, bind=True, name="gallery.tasks.image_add", holds=Image, exclusive=True
)
def image_add_task(self: ConsoleTask, image_ids: list[int] | int) -> None:
    # An int: a message queued before adds were sent in lists.
    self.run_holding(
        lambda held: images_add_run(image_ids=held),
        lambda exc, held: images_add_wait(image_ids=held, error=exc),
    )


# --- update ---------------------------------------------------------------------------------

# A pending edit with this key removes labels, which no update can (an empty value is absent
# on the wire): the image is deleted from the backend and added again with the edit applied.
READD = "readd"


def image_update_run(*, image_id: int) -> None:
    """Send a row's pending edit to its backend."""
    # Before the row: an edit made after this read waits for the next call (see below).
    upto = activity_edits_last_waiting(image_id=image_id)
    row = Image.objects.select_related("library__application").filter(pk=image_id).first()
    if row is None or row.status != ImageStatus.INDEXED or not row.pending_update:
        return
    change = dict(row.pending_update)
    library = row.library
    if change.get(READD):
        _readd(row, change, upto)
        return
    labels = Labels.from_json(change) if "tags" in change else None
    # An Alibaba edit: the picture's new attributes under its pair, which never changes.
    picture = _edited_picture(row, change["picture"]) if "picture" in change else None
    backend = backend_for(library.application)
    try:
        backend.update(
            library, ref=row.cont_sign, brief=change.get("brief"), labels=labels, picture=picture
        )
    except ApiError as exc:
        if exc.retryable:
            raise
        if type(backend).codes.gone and exc.error_code == type(backend).codes.gone:
            with transaction.atomic():
                files = image_gone(Image.objects.select_for_update().get(pk=image_id), exc)
            remove_files(*files)
            return
        _update_refused(image_id=image_id, error=exc, change=change, upto=upto)
        return
    with transaction.atomic():
        row = Image.objects.select_for_update().get(pk=image_id)
        _edit_apply(row, change, picture)
        # Only clear what was sent: a newer edit made meanwhile stays pending.
        row.pending_update = None if row.pending_update == change else row.pending_update
        row.error_code = row.error_msg = ""
        row.waits, row.next_attempt_at = 0, None
        row.save()
        activity_edits_settle(
            image_id=image_id, outcome=EDIT_DONE, upto=upto if row.pending_update else None
        )
        if row.pending_update:
            image_update_task.enqueue(row.pk)


def _readd(row: Image, change: dict[str, Any], upto: int) -> None:
    """Replace the backend's image of an indexed row by one with the edit applied: delete it,
    then add the kept bytes again. Safe to run twice: a delete of an image already gone
    succeeds, and until the new ref is stored the row keeps the edit pending. The backend's
    "already there" after the delete (a hosted delete not yet in effect) is waited out like
    a transient error."""
    backend = backend_for(row.library.application)
    edited = Image.objects.get(pk=row.pk)
    edited.library = row.library
    _edit_apply(edited, change)
    data = read_original(row)
    backend.delete(row.library, [row])
    try:
        stored = backend.add(row.library, edited, image=data)
    except ApiError as exc:
        if exc.retryable:
            raise
        if exc.error_code == type(backend).codes.exists:
            raise ApiError(exc.error_code, exc.error_msg, retryable=True) from exc
        # The bytes the backend took before are refused now: the image is no longer there.
        with transaction.atomic():
            files = image_gone(Image.objects.select_for_update().get(pk=row.pk), exc)
        remove_files(*files)
        return
    with transaction.atomic():
        locked = Image.objects.select_for_update().select_related("library").get(pk=row.pk)
        if locked.status == ImageStatus.FAILED and locked.cont_sign is None:
            # The built-in library's mirror saw the image gone between the two calls.
            set_status(locked, ImageStatus.INDEXED)
        if locked.status != ImageStatus.INDEXED:
            # Deleted meanwhile: the image just added is wanted by nobody.
            if locked.status in (ImageStatus.DELETING, ImageStatus.DELETED):
                locked.cont_sign = stored.ref
                if locked.status == ImageStatus.DELETED:
                    set_status(locked, ImageStatus.DELETING)
                locked.save()
                images_delete_task.enqueue([locked.pk])
            return
        # The mirror may have taken our add for an API image meanwhile.
        twins = locked.library.images.live().filter(
            source_kind=ImageSource.API, cont_sign=stored.ref
        )
        twin_files: list[str] = []
        for twin in twins.exclude(pk=locked.pk).select_for_update():
            twin_files += tombstone(twin)
        transaction.on_commit(lambda: remove_files(*twin_files))
        _edit_apply(locked, change)
        locked.cont_sign = stored.ref
        locked.pending_update = None if locked.pending_update == change else locked.pending_update
        if locked.pending_update:
            locked.pending_update.pop(READD, None)
        locked.error_code = locked.error_msg = ""
        locked.waits, locked.next_attempt_at = 0, None
        locked.save()
        activity_edits_settle(
            image_id=locked.pk, outcome=EDIT_DONE, upto=upto if locked.pending_update else None
        )
        if locked.pending_update:
            image_update_task.enqueue(locked.pk)


def _edit_apply(row: Image, change: dict[str, Any], picture: PictureFields | None = None) -> None:
    """Copy an edit onto the row (and its Picture): what the backend now holds. `picture`:
    the edited picture, where the caller has made it already (`_edited_picture`)."""
    if "brief" in change:
        row.brief = change["brief"]
    if "tags" in change:
        Labels.from_json(change).apply(row)
    if "picture" in change:
        _picture_apply(row, picture or _edited_picture(row, change["picture"]))


def image_gone(row: Image, error: ApiError) -> list[str]:
    """The backend no longer holds the row's image: another client deleted it (row locked).

    A kept original is never deleted for that: the row stays, failed as gone, with every edit
    it was given applied, so that Re-push adds it again as the user left it; the event is in
    the activity log. A row with nothing kept (an API image) becomes a tombstone. Returns the
    files to remove once committed.
    """
    # Edits waiting for the backend never reached it: they failed (a kept row keeps them for
    # Re-push, which the entry's explanation of the error offers).
    activity_edits_settle(
        image_id=row.pk,
        outcome=EDIT_FAILED,
        error_code=error.error_code,
        error_msg=error.error_msg,
    )
    activity_record(
        actor=None,
        application=row.library.application,
        verb=ActivityVerb.IMAGE_GONE,
        obj=row,
        library=row.library.service,
        kept=bool(row.original),
        error_code=str(error.error_code),
        error_msg=error.error_msg[:255],
    )
    if not row.original:
        return tombstone(row)
    if row.pending_update:
        _edit_apply(row, dict(row.pending_update))
        row.pending_update = None
    set_status(row, ImageStatus.FAILED, error)
    row.cont_sign = None  # it holds no place in the library any more (ImageQuerySet.held)
    row.save()
    return []


def _edited_picture(row: Image, edit: dict[str, Any]) -> PictureFields:
    """The picture as the edit leaves it: its pair and category as stored, the edited
    attributes and custom content."""
    stored = Picture.objects.get(image=row)
    fields = PictureFields.from_json(edit)
    return replace(
        fields,
        product_id=stored.product_id,
        pic_name=stored.pic_name,
        category_id=stored.category_id,
    )


def _picture_apply(row: Image, fields: PictureFields) -> None:
    """Copy an accepted edit onto the row's Picture: now the backend holds it. As on the wire,
    an absent value leaves the stored one (the edit service refuses clearing one anyway)."""
    picture = Picture.objects.select_for_update().get(image=row)
    for name, value in zip(INT_ATTR_FIELDS, fields.int_attrs, strict=True):
        if value is not None:
            setattr(picture, name, value)
    for name, text in zip(STR_ATTR_FIELDS, fields.str_attrs, strict=True):
        if text:
            setattr(picture, name, text)
    if fields.custom_content:
        picture.custom_content = fields.custom_content
    picture.save(update_fields=[*INT_ATTR_FIELDS, *STR_ATTR_FIELDS, "custom_content"])


def _update_refused(*, image_id: int, error: ApiError, change: dict[str, Any], upto: int) -> None:
    """The backend refused the edit: drop it (unless a newer one came meanwhile), say why,
    in the row and in the history (the edit's entries fail, and one entry says when)."""
    with transaction.atomic():
        row = Image.objects.select_for_update().select_related("library").get(pk=image_id)
        if row.pending_update == change:
            row.pending_update = None
        row.error_code, row.error_msg = str(error.error_code), error.error_msg[:255]
        row.save()
        activity_edits_settle(
            image_id=image_id,
            outcome=EDIT_FAILED,
            upto=upto if row.pending_update else None,
            error_code=error.error_code,
            error_msg=error.error_msg,
        )
        activity_record(
            actor=None,
            application=row.library.application,
            verb=ActivityVerb.IMAGE_EDIT_REFUSED,
            obj=row,
            error_code=str(error.error_code),
            error_msg=error.error_msg[:255],
        )


def image_update_wait(*, image_id: int, error: ApiError) -> None:
    """A transient error outlived the retries: the edit stays pending, with the error on show,
    until the sweeper's next attempt."""
    with transaction.atomic():
        row = Image.objects.select_for_update().filter(pk=image_id).first()
        if row is None or not row.pending_update:
            return
        row.error_code, row.error_msg = str(error.error_code), error.error_msg[:255]
        wait_start(row)
        row.save()


@shared_task(base=ConsoleTask, bind=True, name="gallery.tasks.image_update", holds=Image)
def image_update_task(self: ConsoleTask, image_id: int) -> None:
    self.run_retrying(
        lambda: image_update_run(image_id=image_id),
        lambda exc: image_update_wait(image_id=image_id, error=exc),
    )


# --- delete ---------------------------------------------------------------------------------


def images_delete_run(*, image_ids: Sequence[int]) -> None:
    """Delete rows in `deleting` from their backend, then tombstone them and drop their files.

    The backend's "no longer in the library" counts as success. The sweeper's chunks may span
    libraries, so each library's rows go to their own backend.
    """
    rows = list(
        Image.objects.select_related("library__application")
        .filter(pk__in=image_ids, status=ImageStatus.DELETING)
        .order_by("pk")
    )
    by_library: dict[int, list[Image]] = {}
    for row in rows:
        by_library.setdefault(row.library_id, []).append(row)
    for group in by_library.values():
        _delete_from_library(group)


def _delete_from_library(rows: list[Image]) -> None:
    library = rows[0].library
    backend = backend_for(library.application)
    try:
        backend.delete(library, rows)
    except ApiError as exc:
        if exc.retryable:
            raise
        images_delete_wait(image_ids=[row.pk for row in rows], error=exc)
        return
    files: list[str] = []
    with transaction.atomic():
        for row in Image.objects.select_for_update().filter(
            pk__in=[r.pk for r in rows], status=ImageStatus.DELETING
        ):
            files += tombstone(row)
        transaction.on_commit(lambda: remove_files(*files))
    for batch_id in Batch.objects.filter(
        library=library,
        kind__in=[Batch.Kind.CLEAR, Batch.Kind.DELETE],
        status=Batch.Status.RUNNING,
    ).values_list("pk", flat=True):
        batch_settle(batch_id=batch_id)


def images_delete_wait(*, image_ids: Sequence[int], error: ApiError) -> None:
    """The backend did not delete the rows: they stay `deleting`, with the error on show, and
    the sweeper tries again after a wait. A delete is never given up: the user wants it gone
    and the backend may still hold it."""
    with transaction.atomic():
        for row in Image.objects.select_for_update().filter(
            pk__in=image_ids, status=ImageStatus.DELETING
        ):
            row.error_code, row.error_msg = str(error.error_code), error.error_msg[:255]
            wait_start(row)
            row.save()


def images_delete_enqueue(ids: Sequence[int], *, now: bool = False) -> None:
    """Queue the backend deletes of rows in `deleting`, in chunks every wire accepts (see
    `enqueue_chunks`)."""
    images_delete_task.enqueue_chunks(ids, DELETE_CHUNK, now=now)


@shared_task(base=ConsoleTask, bind=True, name="gallery.tasks.images_delete", holds=Image)
def images_delete_task(self: ConsoleTask, image_ids: list[int]) -> None:
    self.run_retrying(
        lambda: images_delete_run(image_ids=image_ids),
        lambda exc: images_delete_wait(image_ids=image_ids, error=exc),
    )
