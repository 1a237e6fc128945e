"""What a user does to stored images: edit, delete, push again, re-tag or untag many.

The backend side of each runs in a task (`gallery.services.sync`); here the row changes only
as far as the backend already agrees.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from celery import shared_task
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from gallery.backends import backend_for
from gallery.backends.aliyun import AliyunBackend
from gallery.labels import Labels, clean_brief
from gallery.models import (
    INT_ATTR_FIELDS,
    STR_ATTR_FIELDS,
    ActivityVerb,
    Image,
    ImageStatus,
    Library,
    Picture,
)
from gallery.pictures import PictureFields
from gallery.services.activity import EDIT_WAITING, Actor, activity_record
from gallery.services.rows import remove_files, set_status, tombstone
from gallery.services.sync import (
    READD,
    image_update_task,
    images_add_enqueue,
    images_delete_enqueue,
)
from gallery.services.task_base import ConsoleTask
from searchapi.aliyun import Condition, filter_clause
from searchapi.errors import ApiError
from wire.aliyun import picture_ref

log = logging.getLogger(__name__)


def image_update(
    *,
    actor: Actor,
    image: Image,
    brief: str | None = None,
    labels: Labels | None = None,
    picture: PictureFields | None = None,
) -> Image:
    """Change brief and labels, or an Alibaba picture's attributes and custom content
    (`picture`; its ProductId, PicName and category are its identity and stay). Rows the
    backend holds change once the backend accepts it.

    The brief is checked only when it changes: one an API client stored may break the rules
    for typed briefs (only spaces, say) and still be kept while the labels change.
    """
    if brief is not None and brief != image.brief:
        clean_brief(brief)
    labels = labels.clean(image.library) if labels is not None else None
    if picture is not None:
        if not image.library.is_instance:
            raise ValidationError(_("Only pictures of an Alibaba instance have attributes."))
        picture = _picture_clean(image, picture)
    with transaction.atomic():
        row = Image.objects.select_for_update().select_related("library").get(pk=image.pk)
        if row.status in (ImageStatus.DELETING, ImageStatus.DELETED):
            raise ValidationError(_("This image is being deleted."))
        if picture is not None:
            return _picture_update(actor=actor, row=row, fields=picture)
        previous = _held_fields(row)
        outcome = ""
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
                # New labels replace the stored ones by update: a clearing still waiting
                # (`images_untag`) no longer needs the image added again.
                change.pop(READD, None)
            if not change:
                return row
            row.pending_update = change
            row.save(update_fields=["pending_update", "updated_at"])
            if row.status == ImageStatus.INDEXED:
                image_update_task.enqueue(row.pk)
            outcome = EDIT_WAITING
        activity_record(
            actor=actor,
            application=row.library.application,
            verb=ActivityVerb.IMAGE_EDIT,
            obj=row,
            brief=brief,
            labels=labels.as_json() if labels else None,
            previous=previous,
            **({"outcome": outcome} if outcome else {}),
        )
    return row


def _held_fields(row: Image) -> dict[str, Any]:
    """The brief and labels an edit starts from, for the history's before → after: what the
    row will say once the edits already waiting are through."""
    held: dict[str, Any] = {"brief": row.brief, **Labels.of(row).as_json()}
    pending = {k: v for k, v in (row.pending_update or {}).items() if k in held}
    return {**held, **pending}


def _picture_clean(image: Image, fields: PictureFields) -> PictureFields:
    """The edited attributes by the wire's rules (gallery.pictures), under the stored pair."""
    stored = Picture.objects.get(image=image)
    edit = replace(
        fields,
        product_id=stored.product_id,
        pic_name=stored.pic_name,
        category_id=None,
    )
    return edit.clean(filename=stored.pic_name, product_instance=False)


def _attributes_json(fields: PictureFields) -> dict[str, Any]:
    return {
        "int_attrs": list(fields.int_attrs),
        "str_attrs": list(fields.str_attrs),
        "custom_content": fields.custom_content,
    }


def _stored_attributes(picture: Picture) -> dict[str, Any]:
    return {
        "int_attrs": list(picture.int_attrs),
        "str_attrs": list(picture.str_attrs),
        "custom_content": picture.custom_content,
    }


def _cleared(held: dict[str, Any], edit: dict[str, Any]) -> dict[str, str]:
    """The fields an edit empties that the backend holds (or may hold: an edit sent but not
    answered yet), each with the reason: the wire takes an empty value as absent."""
    message = _(
        "The backend cannot clear a value once stored; give it another, or delete the picture "
        "and upload it again."
    )
    errors: dict[str, str] = {}
    for n, (was, now) in enumerate(zip(held["int_attrs"], edit["int_attrs"], strict=True), 1):
        if was is not None and now is None:
            errors[f"int_attr{n}"] = message
    for n, (was, now) in enumerate(zip(held["str_attrs"], edit["str_attrs"], strict=True), 1):
        if was and not now:
            errors[f"str_attr{n}"] = message
    if held["custom_content"] and not edit["custom_content"]:
        errors["custom_content"] = message
    return errors


def _picture_update(*, actor: Actor, row: Image, fields: PictureFields) -> Image:
    """The picture part of `image_update`, inside its transaction, the row locked."""
    stored = Picture.objects.select_for_update().get(image=row)
    edit = _attributes_json(fields)
    previous = (row.pending_update or {}).get("picture") or _stored_attributes(stored)
    outcome = ""
    if row.status in (ImageStatus.PENDING, ImageStatus.FAILED):
        # Not sent yet (or refused): the next add sends the row's Picture as it is.
        for name, value in zip(INT_ATTR_FIELDS, fields.int_attrs, strict=True):
            setattr(stored, name, value)
        for name, text in zip(STR_ATTR_FIELDS, fields.str_attrs, strict=True):
            setattr(stored, name, text)
        stored.custom_content = fields.custom_content
        stored.save()
    else:
        held = _stored_attributes(stored)
        pending = (row.pending_update or {}).get("picture")
        errors = _cleared(held, edit)
        if pending is not None:
            errors = {**_cleared(pending, edit), **errors}
        if errors:
            raise ValidationError(errors)
        if edit == (pending if pending is not None else held):
            return row
        # The whole set, not a difference: a newer edit replaces one still waiting.
        row.pending_update = {**(row.pending_update or {}), "picture": edit}
        row.save(update_fields=["pending_update", "updated_at"])
        if row.status == ImageStatus.INDEXED:
            image_update_task.enqueue(row.pk)
        outcome = EDIT_WAITING
    activity_record(
        actor=actor,
        application=row.library.application,
        verb=ActivityVerb.IMAGE_EDIT,
        obj=row,
        picture=edit,
        previous={"picture": previous},
        **({"outcome": outcome} if outcome else {}),
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


# --- many pictures of an Alibaba instance: a product, or every picture matching a filter ------

_INT_LOOKUPS = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte", "=": "exact"}


@dataclass(frozen=True)
class PictureSelection:
    """The pictures of an instance one delete takes: every picture of `product_id`, or every
    picture matching `conditions` (all of them; any of them with `any_of`), aliyun-wire §5.3."""

    product_id: str = ""
    conditions: tuple[Condition, ...] = ()
    any_of: bool = False

    def clause(self) -> str:
        """The wire's Filter; ValueError, in words fit for the page, when it cannot be said."""
        return filter_clause(self.conditions, any_of=self.any_of)

    def rows(self, library: Library) -> QuerySet[Image]:
        """Our live rows the selection takes, judged as the engine judges a Filter (§5.3: a
        picture without IntAttr matches no int_attr condition, one without StrAttr matches
        `str_attr != "…"`) on what the backend holds: the Picture, not an edit waiting."""
        rows = Image.objects.live().filter(library=library, picture__isnull=False)
        if self.product_id:
            return rows.filter(picture__product_id=self.product_id)
        where = Q()
        for condition in self.conditions:
            if condition.field == "int_attr":
                lookup = f"picture__int_attr1__{_INT_LOOKUPS[condition.op]}"
                term = Q(**{lookup: condition.value})
            else:
                same = Q(picture__str_attr1=condition.value)
                term = ~same if condition.op == "!=" else same
            where = (where | term) if self.any_of and where else (where & term)
        return rows.filter(where)

    def as_json(self) -> dict[str, Any]:
        return {
            "product_id": self.product_id,
            "conditions": [[c.field, c.op, c.value] for c in self.conditions],
            "any_of": self.any_of,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PictureSelection:
        return cls(
            product_id=data.get("product_id", ""),
            conditions=tuple(Condition(*c) for c in data.get("conditions", ())),
            any_of=bool(data.get("any_of")),
        )


@dataclass(frozen=True)
class DeletePreview:
    """What a delete of a selection would take, for its confirmation page."""

    rows: int  # our live rows
    # Built-in instances, by filter: the matching pictures the engine holds (None: not counted),
    # whether it may hold more (the wire lists only the first MAX_RESULTS), and how many of them
    # no row of ours is (added by other clients).
    held: int | None = None
    more: bool = False
    others: int | None = None
    error: str = ""  # why the engine could not be asked
    confirm: str = ""  # what the user types to confirm

    @property
    def total(self) -> int:
        return self.rows + (self.others or 0)


def _aliyun(library: Library, *, interactive: bool = False) -> AliyunBackend:
    backend = backend_for(library.application, interactive=interactive)
    if not isinstance(backend, AliyunBackend):
        raise TypeError(f"{library} is not an Alibaba instance")
    return backend


def _delete_confirmation(selection: PictureSelection, total: int) -> str:
    return selection.product_id if selection.product_id else f"delete {total}"


def pictures_delete_preview(*, library: Library, selection: PictureSelection) -> DeletePreview:
    """Count what deleting the selection would take: our rows, and for a filter on a built-in
    instance the engine's own matching pictures (SearchImageByFilter, pages of 100 up to 500).
    ValidationError names the field of a condition that cannot be stated."""
    if not library.is_instance:
        raise ValidationError(_("Only an Alibaba instance has products and attributes."))
    clause = ""
    if not selection.product_id:
        try:
            clause = selection.clause()
        except ValueError as exc:
            raise ValidationError({"conditions": str(exc)}) from None
    rows = selection.rows(library).count()
    if selection.product_id or not library.application.builtin:
        # Hosted: each page is a billed call against the instance's QPS; a product cannot be
        # listed by the wire at all.
        return DeletePreview(rows=rows, confirm=_delete_confirmation(selection, rows))
    backend = _aliyun(library, interactive=True)
    try:
        found, more = backend.pictures_by_filter(library, filter=clause)
    except ApiError as exc:
        error = f"{exc.error_code} {exc.error_msg}"
        return DeletePreview(rows=rows, error=error, confirm=_delete_confirmation(selection, rows))
    refs = {picture_ref(a.product_id, a.pic_name) for a in found}
    ours = set(
        Image.objects.live()
        .filter(library=library, cont_sign__in=refs)
        .values_list("cont_sign", flat=True)
    )
    others = len(refs - ours)
    return DeletePreview(
        rows=rows,
        held=len(found),
        more=more,
        others=others,
        confirm=_delete_confirmation(selection, rows + others),
    )


def pictures_delete(
    *, actor: Actor, library: Library, selection: PictureSelection, confirm: str
) -> DeletePreview:
    """Delete a product, or every picture matching a filter, once the user typed what the
    preview asks (the product id; "delete" and the count, counted again now).

    Our rows go to `deleting` and the delete task removes them by pair, as one picture's
    delete does: nothing is tombstoned before the backend deleted it. One more call,
    `pictures_delete_task`, deletes by the product id or the filter what other clients added.
    """
    preview = pictures_delete_preview(library=library, selection=selection)
    typed = " ".join(confirm.split())
    expected = preview.confirm
    if (typed if selection.product_id else typed.casefold()) != expected:
        if selection.product_id:
            message = _("Type the product id exactly, %(id)s, to confirm.") % {"id": expected}
        else:
            message = _("Type “%(words)s” to confirm: that many pictures match now.") % {
                "words": expected
            }
        raise ValidationError({"confirm": message})
    if preview.rows == 0 and preview.held == 0:
        raise ValidationError(_("No picture matches: there is nothing to delete."))
    with transaction.atomic():
        images_delete(actor=actor, images=selection.rows(library))
        activity_record(
            actor=actor,
            application=library.application,
            verb=ActivityVerb.IMAGE_DELETE,
            obj=library,
            **(
                {"product_id": selection.product_id}
                if selection.product_id
                else {"filter": selection.clause()}
            ),
            rows=preview.rows,
        )
        pictures_delete_task.enqueue(library.pk, selection.as_json())
    return preview


def pictures_delete_run(*, library_id: int, selection: dict[str, Any]) -> None:
    """The one DeleteImage by product id or by filter, for the pictures other clients added.

    Its order against the row deletes does not matter: a pair it removed first is deleted
    again by pair, which succeeds. Rows that came to match after the confirmation (an upload
    since, say) may just have lost their picture: they take the delete path too, so that no
    row claims a picture the backend no longer holds.
    """
    library = Library.objects.select_related("application").filter(pk=library_id).first()
    if library is None or not library.is_instance:
        return
    backend = _aliyun(library)
    chosen = PictureSelection.from_json(selection)
    if chosen.product_id:
        backend.pictures_delete(library, product_id=chosen.product_id)
    else:
        backend.pictures_delete(library, filter=chosen.clause())
    late = chosen.rows(library).exclude(
        cont_sign__isnull=True, status__in=[ImageStatus.PENDING, ImageStatus.FAILED]
    )
    if late.exists():
        images_delete(actor=None, images=late)


def pictures_delete_give_up(*, library_id: int, error: ApiError) -> None:
    """The backend stayed away through every retry. Our rows are deleted by their own tasks,
    which keep waiting; only the pictures other clients added may remain: a new count on the
    confirmation page shows them."""
    log.warning(
        "library %s: the delete by product or filter was not sent: %s %s",
        library_id,
        error.error_code,
        error.error_msg,
    )


@shared_task(base=ConsoleTask, bind=True, name="gallery.tasks.pictures_delete")
def pictures_delete_task(self: ConsoleTask, library_id: int, selection: dict[str, Any]) -> None:
    self.run_retrying(
        lambda: pictures_delete_run(library_id=library_id, selection=selection),
        lambda exc: pictures_delete_give_up(library_id=library_id, error=exc),
    )


def image_repush(*, actor: Actor, image: Image) -> Image:
    """Queue a failed row for another add."""
    if not images_repush(actor=actor, images=[image]):
        raise ValidationError(_("Only an image whose upload failed can be pushed again."))
    return Image.objects.get(pk=image.pk)


def images_repush(*, actor: Actor, images: Iterable[Image]) -> int:
    """Queue the failed ones among `images` for another add (the others are left as they
    are); returns how many."""
    with transaction.atomic():
        rows = list(
            Image.objects.select_for_update()
            .select_related("library__application")
            .filter(pk__in=[image.pk for image in images], status=ImageStatus.FAILED)
        )
        for row in rows:
            set_status(row, ImageStatus.PENDING)
            row.duplicate_of = None
            row.save()
            activity_record(
                actor=actor,
                application=row.library.application,
                verb=ActivityVerb.IMAGE_REPUSH,
                obj=row,
            )
        images_add_enqueue([row.pk for row in rows])
    return len(rows)


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


def images_untag(*, actor: Actor, images: Iterable[Image]) -> BulkResult:
    """Clear the labels (both tags, or both class ids) of every image that has any.

    The wire cannot remove a label by update (an empty value is absent, baidu-wire §3.1), so a
    row the backend holds is deleted there and added again from its kept bytes without labels
    (`sync.image_update_run`, the change marked READD); until then it shows "update pending".
    A row not sent yet (pending, failed) changes at once; one without a kept original (added
    through the API) cannot be added again and is reported.
    """
    changed, errors = 0, []
    cleared = Labels()
    for image in images:
        with transaction.atomic():
            row = Image.objects.select_for_update().select_related("library").get(pk=image.pk)
            if row.library.is_instance:
                errors.append((row, _("Pictures of an Alibaba instance have no tags.")))
                continue
            previous = _held_fields(row)
            outcome = ""
            pending = Labels.from_json(row.pending_update) if row.pending_update else None
            if Labels.of(row) == cleared and (pending is None or pending == cleared):
                continue  # nothing to clear
            if row.status in (ImageStatus.DELETING, ImageStatus.DELETED):
                errors.append((row, _("This image is being deleted.")))
                continue
            if row.status in (ImageStatus.PENDING, ImageStatus.FAILED):
                cleared.apply(row)
                if row.pending_update:
                    row.pending_update = {
                        k: v for k, v in row.pending_update.items() if k not in cleared.as_json()
                    } or None
                row.save()
            elif not row.original:
                errors.append(
                    (
                        row,
                        _(
                            "The backend cannot remove labels, and no original is kept to add "
                            "the image again without them."
                        ),
                    )
                )
                continue
            else:
                row.pending_update = {
                    **(row.pending_update or {}),
                    **cleared.as_json(),
                    READD: True,
                }
                row.save(update_fields=["pending_update", "updated_at"])
                if row.status == ImageStatus.INDEXED:
                    image_update_task.enqueue(row.pk)
                outcome = EDIT_WAITING
            activity_record(
                actor=actor,
                application=row.library.application,
                verb=ActivityVerb.IMAGE_EDIT,
                obj=row,
                labels=cleared.as_json(),
                previous=previous,
                **({"outcome": outcome} if outcome else {}),
            )
            changed += 1
    return BulkResult(changed, errors)


# --- a bulk action on many rows: the ticked ones, or every one matching the listing's filters


class BulkAction(StrEnum):
    DELETE = "delete"
    REPUSH = "repush"
    RETAG = "retag"
    UNTAG = "untag"


# Up to this many rows a bulk action runs in the request, as for the ticked cards of a page
# (`selectors.images.MAX_SELECTED`); past it, in tasks of BULK_CHUNK rows each.
BULK_NOW = 1000
BULK_CHUNK = 500


@dataclass(frozen=True)
class BulkOutcome:
    """What a bulk action did at once (`result`), or how many rows it queued (`queued`)."""

    result: BulkResult | None = None
    queued: int = 0


def images_bulk(
    *,
    actor: Actor,
    library: Library,
    action: BulkAction,
    ids: Sequence[int],
    labels: Labels | None = None,
) -> BulkOutcome:
    """Run a bulk action on rows of the library (the caller has chosen them: the ticked ones,
    or all matching the filters, read at action time). A large set runs in the background,
    BULK_CHUNK rows a task, each through the same service as a small one; a row that changed
    meanwhile is judged again there (a deleted one is left alone)."""
    labels_json = labels.as_json() if labels is not None else None
    if len(ids) <= BULK_NOW:
        rows = list(Image.objects.listed().filter(library=library, pk__in=ids).order_by("-pk"))
        return BulkOutcome(result=_bulk_run(actor, action, rows, labels))
    user_id = actor.pk if isinstance(actor, User) else None
    for start in range(0, len(ids), BULK_CHUNK):
        chunk = list(ids[start : start + BULK_CHUNK])
        images_bulk_task.enqueue(library.pk, chunk, str(action), user_id, labels_json)
    return BulkOutcome(queued=len(ids))


def _bulk_run(
    actor: Actor, action: BulkAction, rows: list[Image], labels: Labels | None
) -> BulkResult:
    if action == BulkAction.DELETE:
        return BulkResult(images_delete(actor=actor, images=rows), [])
    if action == BulkAction.REPUSH:
        return BulkResult(images_repush(actor=actor, images=rows), [])
    if action == BulkAction.UNTAG:
        return images_untag(actor=actor, images=rows)
    return images_retag(actor=actor, images=rows, labels=labels or Labels())


def images_bulk_run(
    *,
    library_id: int,
    image_ids: Sequence[int],
    action: str,
    user_id: int | None,
    labels: dict[str, Any] | None,
) -> None:
    """One chunk of a large bulk action; running it twice does nothing more."""
    actor = User.objects.filter(pk=user_id).first() if user_id is not None else None
    rows = list(
        Image.objects.listed().filter(library_id=library_id, pk__in=image_ids).order_by("-pk")
    )
    if rows:
        result = _bulk_run(
            actor, BulkAction(action), rows, Labels.from_json(labels) if labels else None
        )
        for image, error in result.errors:
            log.info("bulk %s left image %s: %s", action, image.pk, error)


@shared_task(base=ConsoleTask, bind=True, name="gallery.tasks.images_bulk")
def images_bulk_task(
    self: ConsoleTask,
    library_id: int,
    image_ids: list[int],
    action: str,
    user_id: int | None,
    labels: dict[str, Any] | None,
) -> None:
    images_bulk_run(
        library_id=library_id, image_ids=image_ids, action=action, user_id=user_id, labels=labels
    )
