"""Uploads: one image checked, stored and queued, and upload batches that feed many of them.

A file is validated by decoding it (`gallery.images.inspect`); the original and the thumbnail
are stored before the row is written, and the row before its add is queued, so nothing is
left half-written. An input that cannot become a row is a *refusal*, the same for the single
upload page and for a batch (`refusal_of`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from celery import shared_task
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _

from gallery import fetch, images
from gallery.labels import Labels, brief_from_filename, clean_brief
from gallery.models import (
    TYPE_OF_SERVICE,
    ActivityVerb,
    Batch,
    Image,
    ImageSource,
    ImageStatus,
    Library,
    Service,
)
from gallery.pictures import PictureFields
from gallery.services.activity import Actor, acting_user, activity_record
from gallery.services.batches import batch_problem, batch_settle, job_give_up, not_sent_full
from gallery.services.rows import remove_files, set_status
from gallery.services.sync import images_add_enqueue
from gallery.services.task_base import ConsoleTask
from gallery.texts import Text


class LibraryFull(ValidationError):
    """The library holds as many images as its capacity."""


class DuplicateImage(Exception):
    """The library already holds these exact bytes as `image`; `proposal` is the brief and
    labels the refused upload would have had, to offer on that image's edit form instead."""

    def __init__(self, image: Image, proposal: dict[str, str] | None = None) -> None:
        super().__init__(f"already in the library as image {image.pk}")
        self.image = image
        self.proposal = proposal


def edit_proposal(brief: str, labels: Labels) -> dict[str, str]:
    """An edit form's fields as a query string carries them (`views.images.image_detail`)."""
    proposal = {"brief": brief, "tags": ", ".join(str(tag) for tag in labels.tags)}
    for name in ("class_id1", "class_id2"):
        value = getattr(labels, name)
        if value is not None:
            proposal[name] = str(value)
    return proposal


@dataclass(frozen=True)
class UploadRefusal:
    """Why an input did not become a row: the wire code it stands for (or ""), in words."""

    code: int | str
    message: str
    duplicate: Image | None = None
    proposal: dict[str, str] | None = None  # see DuplicateImage


UploadError = (images.ImageInvalid, DuplicateImage, ValidationError)


def refusal_of(exc: Exception) -> UploadRefusal:
    """The one mapping from what `image_upload` raises to what the user is told."""
    if isinstance(exc, images.ImageInvalid):
        return UploadRefusal(exc.code, exc.message)
    if isinstance(exc, DuplicateImage):
        return UploadRefusal(
            216681, Text("The same file (SHA-256) is already here."), exc.image, exc.proposal
        )
    if isinstance(exc, LibraryFull):
        return UploadRefusal(19, " ".join(exc.messages))
    if isinstance(exc, ValidationError):
        return UploadRefusal("", " ".join(exc.messages))
    raise TypeError(f"not an upload refusal: {exc!r}")


def image_upload(
    *,
    actor: Actor,
    library: Library,
    data: bytes,
    filename: str,
    brief: str | None = None,
    labels: Labels = Labels(),
    source_kind: str = ImageSource.UPLOAD,
    source: str = "",
    batch: Batch | None = None,
    picture: PictureFields | None = None,
    queue: bool = True,
    keep_when_full: bool = False,
    held: int | None = None,
) -> Image:
    """Check, store and queue one image. Raises one of `UploadError` (see `refusal_of`).

    With `keep_when_full` (a batch's files), an image that does not fit is stored all the same
    and its row failed as not sent, for "Retry failed" once the capacity is raised; so is every
    image of a batch the backend stopped as full. `held`: the library's rows that take a place
    (`ImageQuerySet.held`), where the caller counted them already (once for many files).

    An Alibaba instance's image is a picture: `picture` (defaults from the file name) instead
    of the brief and labels, and the same bytes may be stored under several pairs. Without
    `queue`, the caller queues the add (`images_add_enqueue`), with those of other rows."""
    if library.deleting_since is not None:
        raise ValidationError(_("This library is being deleted."))
    fields: PictureFields | None = None
    if library.is_instance:
        facts = images.inspect_picture(data, TYPE_OF_SERVICE[library.service], thumbnail=True)
        fields = (picture or PictureFields()).clean(
            filename=filename, product_instance=library.service == Service.PRODUCT
        )
        brief = fields.pic_name  # the caption every listing shows
    else:
        facts = images.inspect(data, library.service, thumbnail=True)
        # A brief of spaces is none, as the upload form (which strips) sees it too.
        brief = clean_brief(brief if brief and brief.strip() else brief_from_filename(filename))
        labels = labels.clean(library)
        # Any one will do: no ORDER BY, which would make SQLite walk the primary key.
        existing = next(
            iter(library.images.held().filter(sha256=facts.sha256).order_by()[:1]), None
        )
        if existing is not None:
            raise DuplicateImage(existing, edit_proposal(brief, labels))
    # Rows the backend holds or will: a failed row that never got there takes no place.
    if held is None:
        held = library.images.held().count()
    full = held >= library.capacity or (batch is not None and batch.status == Batch.Status.FULL)
    if full and not keep_when_full:
        raise LibraryFull(
            _("The library is full (%(n)d images). Expand its capacity first.")
            % {"n": library.capacity}
        )
    image = Image(
        library=library,
        sha256=facts.sha256,
        width=facts.width,
        height=facts.height,
        bytes=facts.bytes,
        format=facts.format,
        brief=brief,
        source=source or filename,
        source_kind=source_kind,
        uploaded_by=acting_user(actor),
        status=ImageStatus.PENDING,
        batch=batch,
    )
    if full:
        set_status(image, ImageStatus.FAILED, not_sent_full(library))
    labels.apply(image)
    # The original is kept before any remote call; the row follows the files, and if it cannot
    # be written the files go again, so nothing is left half-written.
    image.original.save(filename or "image", ContentFile(data), save=False)
    try:
        image.thumbnail.save(
            images.thumbnail_name(), ContentFile(facts.thumbnail or b""), save=False
        )
        with transaction.atomic():
            # Deleted meanwhile, or being deleted (`gallery.services.removal`): the row would
            # outlive its library's images, or its library.
            here = Library.objects.select_for_update().filter(
                pk=library.pk, deleting_since__isnull=True
            )
            if not here.exists():
                raise ValidationError(_("This library is being deleted."))
            image.save()
            if fields is not None:
                row = fields.picture()
                row.image = image
                row.save()
            activity_record(
                actor=actor,
                application=library.application,
                verb=ActivityVerb.IMAGE_UPLOAD,
                obj=image,
                library=library.service,
            )
            if queue and not full:
                images_add_enqueue([image.pk])
    except BaseException:
        remove_files(image.original.name, image.thumbnail.name)
        raise
    return image


# --- upload batches -------------------------------------------------------------------------


def batch_create(
    *,
    actor: Actor,
    library: Library,
    urls: Sequence[str] = (),
    brief: str = "",
    labels: Labels = Labels(),
    files_follow: bool = True,
    picture: PictureFields | None = None,
) -> Batch:
    """Start an upload batch. Files are then posted into it (`batch_add_files`) while
    `files_follow`; the URLs are downloaded by a task, so a closed page loses nothing. An
    Alibaba instance's files all get `picture` (checked now; each file's defaults later)."""
    if library.is_instance:
        (picture or PictureFields()).clean(
            filename="image", product_instance=library.service == Service.PRODUCT
        )
    labels = labels.clean(library)
    brief = clean_brief(brief) if brief.strip() else ""
    urls = [u.strip() for u in urls if u.strip()]
    with transaction.atomic():
        batch = Batch.objects.create(
            library=library,
            kind=Batch.Kind.UPLOAD,
            created_by=acting_user(actor),
            urls=urls,
            total=len(urls),
            brief=brief,
            labels=labels.as_json(),
            picture=(picture or PictureFields()).as_json() if library.is_instance else {},
            feeding=files_follow,
        )
        activity_record(
            actor=actor,
            application=library.application,
            verb=ActivityVerb.BATCH_CREATE,
            obj=batch,
            library=library.service,
            urls=len(urls),
        )
        if urls:
            batch_fetch_task.enqueue(batch.pk)
    return batch


def batch_item(
    batch: Batch,
    *,
    data: bytes,
    name: str,
    brief: str | None,
    labels: Labels,
    source_kind: str = ImageSource.UPLOAD,
    source: str = "",
    queue: bool = True,
    held: int | None = None,
) -> Image | dict[str, Any]:
    """Turn one input into a row of the batch, or into one of its problems (returned as
    stored); `held` as for `image_upload`."""
    try:
        return image_upload(
            actor=batch.created_by,
            library=batch.library,
            data=data,
            filename=name,
            brief=brief,
            labels=labels,
            source_kind=source_kind,
            source=source,
            batch=batch,
            picture=PictureFields.from_json(batch.picture),
            queue=queue,
            keep_when_full=True,
            held=held,
        )
    except UploadError as exc:
        refusal = refusal_of(exc)
        return batch_problem(
            batch.pk, name, refusal.code, refusal.message, refusal.duplicate, refusal.proposal
        )


def batch_add_files(
    *, batch: Batch, files: Sequence[tuple[bytes | None, str]]
) -> list[Image | dict[str, Any]]:
    """Files posted into a running upload batch, each (its bytes, or None when it was over
    the wire's size limit; its name): for each, its row or its problem as stored. The rows'
    adds are queued together, so that a worker sends them in one task."""
    Batch.objects.filter(pk=batch.pk).update(total=F("total") + len(files))
    batch.refresh_from_db()
    brief, labels = batch.brief or None, Labels.from_json(batch.labels)
    results: list[Image | dict[str, Any]] = []
    added: list[int] = []
    # Counted once for the request, not once a file: a count walks the library's rows.
    held = batch.library.images.held().count()
    try:
        for data, filename in files:
            name = filename or "image"
            if batch.status not in (Batch.Status.RUNNING, Batch.Status.FULL):
                results.append(
                    batch_problem(batch.pk, name, "", Text("Not sent: the batch was stopped."))
                )
            elif data is None:
                results.append(_too_big(batch, name))
            else:
                result = batch_item(
                    batch, data=data, name=name, brief=brief, labels=labels, queue=False, held=held
                )
                results.append(result)
                if isinstance(result, Image) and result.status == ImageStatus.PENDING:
                    added.append(result.pk)
                    held += 1
    finally:
        images_add_enqueue(added)
    return results


def _too_big(batch: Batch, name: str) -> dict[str, Any]:
    if batch.library.is_instance:
        return batch_problem(batch.pk, name, "BadRequest", Text("The file is larger than 4 MiB."))
    return batch_problem(batch.pk, name, 216202, Text("The file is larger than 3 MiB."))


def batch_close(*, batch: Batch) -> None:
    """The browser has posted every file; the batch is done once its rows settle."""
    Batch.objects.filter(pk=batch.pk, kind=Batch.Kind.UPLOAD).update(feeding=False)
    batch_settle(batch_id=batch.pk)


def batch_fetch_run(*, batch_id: int) -> None:
    """Download the batch's URLs one by one, resuming at `cursor`."""
    while True:
        batch = Batch.objects.select_related("library__application").get(pk=batch_id)
        if batch.status != Batch.Status.RUNNING or batch.cursor >= len(batch.urls):
            break
        position = batch.cursor
        url = batch.urls[position]
        try:
            fetched = fetch.fetch(url)
        except fetch.FetchError as exc:
            batch_problem(batch.pk, url, exc.code, f"{exc.error_msg}: {exc.detail}")
        else:
            batch_item(
                batch,
                data=fetched.data,
                name=fetched.filename,
                brief=batch.brief or None,
                labels=Labels.from_json(batch.labels),
                source_kind=ImageSource.URL,
                source=url[:1024],
            )
        # Only this task moves the cursor; a redelivered message resumes after the last URL.
        Batch.objects.filter(pk=batch_id, cursor=position).update(cursor=position + 1)
    batch_settle(batch_id=batch_id)


@shared_task(
    base=ConsoleTask, bind=True, name="gallery.tasks.batch_fetch", holds=Batch, exclusive=True
)
def batch_fetch_task(self: ConsoleTask, batch_id: int) -> None:
    self.run_retrying(lambda: batch_fetch_run(batch_id=batch_id), job_give_up(batch_id))
