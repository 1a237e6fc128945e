"""What a user does to stored images: edit, delete, push again, re-tag many.

The backend side of each runs in a task (`gallery.services.sync`); here the row changes only
as far as the backend already agrees.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from gallery.labels import Labels, clean_brief
from gallery.models import ActivityVerb, Image, ImageStatus
from gallery.services.activity import Actor, activity_record
from gallery.services.rows import remove_files, set_status, tombstone
from gallery.services.sync import image_add_task, image_update_task, images_delete_enqueue


def image_update(
    *, actor: Actor, image: Image, brief: str | None = None, labels: Labels | None = None
) -> Image:
    """Change brief and labels. Rows the backend holds change once the backend accepts it.

    The brief is checked only when it changes: one an API client stored may break the rules
    for typed briefs (only spaces, say) and still be kept while the labels change.
    """
    if brief is not None and brief != image.brief:
        clean_brief(brief)
    labels = labels.clean(image.library) if labels is not None else None
    with transaction.atomic():
        row = Image.objects.select_for_update().select_related("library").get(pk=image.pk)
        if row.status in (ImageStatus.DELETING, ImageStatus.DELETED):
            raise ValidationError(_("This image is being deleted."))
        if row.status in (ImageStatus.PENDING, ImageStatus.FAILED):
            if brief is not None:
                row.brief = brief
            if labels is not None:
                labels.apply(row)
            row.save()
        else:
            if labels is not None and labels.drops_any_of(Labels.of(row)):
                # The wire treats an empty value as absent: a label can be replaced, not removed.
                raise ValidationError(
                    {
                        "tags": _(
                            "The backend cannot remove labels from an indexed image; "
                            "replace them, or delete and upload the image again."
                        )
                    }
                )
            change: dict[str, Any] = dict(row.pending_update or {})
            if brief is not None and brief != row.brief:
                change["brief"] = brief
            if labels is not None and labels != Labels.of(row):
                change.update(labels.as_json())
            if not change:
                return row
            row.pending_update = change
            row.save(update_fields=["pending_update", "updated_at"])
            if row.status == ImageStatus.INDEXED:
                image_update_task.enqueue(row.pk)
        activity_record(
            actor=actor,
            application=row.library.application,
            verb=ActivityVerb.IMAGE_EDIT,
            obj=row,
            brief=brief,
            labels=labels.as_json() if labels else None,
        )
    return row


def images_delete(*, actor: Actor, images: Iterable[Image]) -> int:
    """Delete rows: locally at once where the backend never saw them, else through a task."""
    ids = [image.pk for image in images]
    remote: list[int] = []
    local_files: list[str] = []
    with transaction.atomic():
        rows = list(
            Image.objects.select_for_update()
            .select_related("library__application")
            .filter(pk__in=ids)
            .listed()
        )
        for row in rows:
            never_sent = row.cont_sign is None and row.status in (
                ImageStatus.PENDING,
                ImageStatus.FAILED,
            )
            if never_sent:
                # A pending row's task has not started (it would hold the lock); it will find the
                # tombstone and stop.
                local_files += tombstone(row)
            else:
                # Without a ref an add may still have reached the backend: the task then deletes
                # by image, and an add that lands later deletes itself (sync._finish_add).
                if row.status != ImageStatus.DELETING:
                    set_status(row, ImageStatus.DELETING)
                    row.save()
                remote.append(row.pk)
            activity_record(
                actor=actor,
                application=row.library.application,
                verb=ActivityVerb.IMAGE_DELETE,
                obj=row,
            )
        images_delete_enqueue(remote)
        transaction.on_commit(lambda: remove_files(*local_files))
    return len(rows)


def image_repush(*, actor: Actor, image: Image) -> Image:
    """Queue a failed row for another add."""
    with transaction.atomic():
        row = (
            Image.objects.select_for_update()
            .select_related("library__application")
            .get(pk=image.pk)
        )
        if row.status != ImageStatus.FAILED:
            raise ValidationError(_("Only an image whose upload failed can be pushed again."))
        set_status(row, ImageStatus.PENDING)
        row.duplicate_of = None
        row.save()
        activity_record(
            actor=actor,
            application=row.library.application,
            verb=ActivityVerb.IMAGE_REPUSH,
            obj=row,
        )
        image_add_task.enqueue(row.pk)
    return row


@dataclass(frozen=True)
class BulkResult:
    changed: int
    errors: list[tuple[Image, str]]


def images_retag(*, actor: Actor, images: Iterable[Image], labels: Labels) -> BulkResult:
    """Give every image the same labels: one update per image, as the API has no batch update."""
    changed, errors = 0, []
    for image in images:
        try:
            image_update(actor=actor, image=image, labels=labels)
        except ValidationError as exc:
            errors.append((image, " ".join(exc.messages)))
        else:
            changed += 1
    return BulkResult(changed, errors)
