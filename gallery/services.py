"""Writes of the console domain. Views and tasks stay thin and call these.

Image rows move through `pending → indexing → indexed | failed`, and `deleting → deleted`
(a tombstone). A row never claims more than the backend holds: `indexed` is set only once the
backend has answered the add with a `cont_sign`, and an edit waits in `pending_update` until the
backend has accepted it. Every remote call happens in a task, outside any transaction.
"""

from __future__ import annotations

import hashlib
import io
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import PurePosixPath
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from PIL import Image as PILImage

from gallery import images
from gallery.backends import client_for
from gallery.models import (
    BRIEF_MAX_BYTES,
    DEFAULT_CAPACITY,
    TAG_MAX,
    TAG_MIN,
    Activity,
    Application,
    Batch,
    Image,
    ImageSource,
    ImageStatus,
    Library,
    Membership,
    Role,
    Service,
)
from searchapi.baidu import BaiduClient, BaiduError, Credentials, SearchHit

log = logging.getLogger(__name__)

LIVE = ~Q(status__in=[ImageStatus.DELETING, ImageStatus.DELETED])
DELETE_CHUNK = 100
# A hit this close to 1.0 for the very bytes we tried to add is that same image.
SAME_IMAGE_SCORE = 0.99


class LibraryFull(ValidationError):
    """The library holds as many images as its capacity (the wire's 19)."""


class DuplicateImage(Exception):
    """The library already holds these exact bytes as `image`."""

    def __init__(self, image: Image) -> None:
        super().__init__(f"already in the library as image {image.pk}")
        self.image = image


# --- activity -------------------------------------------------------------------------------------


def _user(actor: Any) -> Any:
    """The acting user to store on a row; None for anonymous or system actions."""
    return actor if getattr(actor, "is_authenticated", False) else None


def activity_record(
    *, actor: Any, application: Application | None, verb: str, obj: Any, **detail: Any
) -> None:
    Activity.objects.create(
        actor=_user(actor),
        application=application,
        verb=verb,
        object_type=type(obj).__name__.lower(),
        object_id=getattr(obj, "pk", None),
        object_repr=str(obj)[:300],
        detail=detail,
    )


def _dispatch(task: Any, *args: Any) -> None:
    """Queue a task; if the broker is down, leave the row for the sweeper instead of failing."""
    try:
        task.delay(*args)
    except Exception as exc:
        log.warning("could not queue %s%s (%s); the sweeper will retry", task.name, args, exc)


def _on_commit(task_name: str, *args: Any) -> None:
    from gallery import tasks  # tasks import this module

    task = getattr(tasks, task_name)
    transaction.on_commit(lambda: _dispatch(task, *args))


# --- field validation -----------------------------------------------------------------------------


def clean_brief(brief: str) -> str:
    if not brief:
        raise ValidationError({"brief": _("A brief is required.")})
    size = images.brief_bytes(brief)
    if size > BRIEF_MAX_BYTES:
        raise ValidationError(
            {
                "brief": _("The brief is %(n)d bytes in UTF-8; at most 256 are allowed.")
                % {"n": size}
            }
        )
    return brief


def clean_tags(tags: Sequence[int] | None, field: str = "tags") -> list[int]:
    values = list(tags or [])
    if len(values) > 2:
        raise ValidationError({field: _("At most two tags.")})
    for value in values:
        if not TAG_MIN <= value <= TAG_MAX:
            raise ValidationError({field: _("Tags are whole numbers from 1 to 65535.")})
    return values


def clean_class_id(value: int | None, field: str) -> int | None:
    if value is not None and not TAG_MIN <= value <= TAG_MAX:
        raise ValidationError({field: _("Class ids are whole numbers from 1 to 65535.")})
    return value


@dataclass(frozen=True)
class Labels:
    """Tags, or for product libraries the two class ids."""

    tags: tuple[int, ...] = ()
    class_id1: int | None = None
    class_id2: int | None = None

    @classmethod
    def of(cls, image: Image) -> Labels:
        return cls(tuple(image.tags), image.class_id1, image.class_id2)

    def clean(self, library: Library) -> Labels:
        if library.uses_class_ids:
            if self.tags:
                raise ValidationError({"tags": _("Product libraries use class ids, not tags.")})
            return Labels(
                (),
                clean_class_id(self.class_id1, "class_id1"),
                clean_class_id(self.class_id2, "class_id2"),
            )
        if self.class_id1 is not None or self.class_id2 is not None:
            raise ValidationError({"tags": _("Only product libraries use class ids.")})
        return Labels(tuple(clean_tags(self.tags)))

    def apply(self, image: Image) -> None:
        tags = [*self.tags, None, None]
        image.tag1, image.tag2 = tags[0], tags[1]
        image.class_id1, image.class_id2 = self.class_id1, self.class_id2

    def as_json(self) -> dict[str, Any]:
        return {"tags": list(self.tags), "class_id1": self.class_id1, "class_id2": self.class_id2}


# --- applications, members, libraries -------------------------------------------------------------


def application_create(
    *,
    actor: Any,
    name: str,
    backend: str,
    services: Sequence[str],
    qps: int = 10,
    base_url: str = "",
    app_id: str = "",
    api_key: str = "",
    secret_key: str = "",
) -> Application:
    """Create an application; a built-in one gets its engine twin and generated keys."""
    unknown = set(services) - set(Service.values)
    if unknown:
        raise ValidationError({"services": _("Unknown services: %s") % ", ".join(sorted(unknown))})
    application = Application(
        name=name.strip(),
        backend=backend,
        services=sorted(set(services)),
        qps=qps,
        created_by=actor,
    )
    if not application.name:
        raise ValidationError({"name": _("A name is required.")})
    if backend == Application.Backend.BUILTIN:
        from engine.services import engine_app_create  # the one in-process link to the engine

        with transaction.atomic():
            credentials = engine_app_create(name=application.name, services=services, qps=qps)
            application.app_id = credentials.app_id
            application.api_key = credentials.api_key
            application.secret_key = credentials.secret_key
            application.auth_mode = Application.AuthMode.TOKEN
            _save_new_application(application, actor)
        return application
    if not (app_id and api_key and secret_key):
        raise ValidationError(_("AppID, API Key and Secret Key are all required."))
    application.base_url = base_url or "https://aip.baidubce.com"
    application.app_id, application.api_key, application.secret_key = app_id, api_key, secret_key
    try:
        application.auth_mode = application_check_credentials(
            base_url=application.base_url, app_id=app_id, api_key=api_key, secret_key=secret_key
        )
    except BaiduError as exc:
        if exc.error_code == 14:
            raise ValidationError(
                _("The API Key or Secret Key is wrong (%(code)s %(msg)s).")
                % {"code": exc.error_code, "msg": exc.error_msg}
            ) from None
        raise ValidationError(
            _("Could not reach the backend: %(code)s %(msg)s")
            % {"code": exc.error_code, "msg": exc.error_msg}
        ) from None
    with transaction.atomic():
        _save_new_application(application, actor)
    return application


def _save_new_application(application: Application, actor: Any) -> None:
    application.save()
    Membership.objects.create(user=actor, application=application, role=Role.OWNER)
    activity_record(
        actor=actor,
        application=application,
        verb="application.create",
        obj=application,
        backend=application.backend,
    )


def membership_set(*, actor: Any, application: Application, user: Any, role: str) -> Membership:
    if role not in Role.values:
        raise ValidationError({"role": _("Unknown role.")})
    with transaction.atomic():
        membership, _created = Membership.objects.update_or_create(
            user=user, application=application, defaults={"role": role}
        )
        if not Membership.objects.filter(application=application, role=Role.OWNER).exists():
            raise ValidationError(_("An application needs at least one owner."))
        activity_record(
            actor=actor,
            application=application,
            verb="member.set",
            obj=membership,
            user=user.get_username(),
            role=role,
        )
    return membership


def membership_remove(*, actor: Any, application: Application, user: Any) -> None:
    with transaction.atomic():
        Membership.objects.filter(user=user, application=application).delete()
        if not Membership.objects.filter(application=application, role=Role.OWNER).exists():
            raise ValidationError(_("An application needs at least one owner."))
        activity_record(
            actor=actor,
            application=application,
            verb="member.remove",
            obj=application,
            user=user.get_username(),
        )


def library_create(
    *, actor: Any, application: Application, service: str, capacity: int = DEFAULT_CAPACITY
) -> Library:
    if service not in Service.values:
        raise ValidationError({"service": _("Unknown service.")})
    if capacity < 1:
        raise ValidationError({"capacity": _("Capacity must be at least 1.")})
    if Library.objects.filter(application=application, service=service).exists():
        raise ValidationError({"service": _("This application already has that library.")})
    library = Library(application=application, service=service, capacity=capacity)
    with transaction.atomic():
        if application.backend == Application.Backend.BUILTIN:
            from engine.services import engine_library_create

            engine_library_create(app_id=application.app_id, service=service, capacity=capacity)
            library.registered = True
        library.save()
        activity_record(
            actor=actor,
            application=application,
            verb="library.create",
            obj=library,
            capacity=capacity,
        )
    return library


# --- images: upload, edit, delete -----------------------------------------------------------------


def image_upload(
    *,
    actor: Any,
    library: Library,
    data: bytes,
    filename: str,
    brief: str | None = None,
    labels: Labels = Labels(),
    source_kind: str = ImageSource.UPLOAD,
    source: str = "",
    batch: Batch | None = None,
) -> Image:
    """Check, store and queue one image. Raises ImageInvalid, ValidationError (LibraryFull) or
    DuplicateImage."""
    facts = images.inspect(data, library.service, thumbnail=True)
    brief = clean_brief(brief or images.brief_from_filename(filename))
    labels = labels.clean(library)
    existing = library.images.filter(LIVE, sha256=facts.sha256).first()
    if existing is not None:
        raise DuplicateImage(existing)
    if library.images.filter(LIVE).count() >= library.capacity:
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
        uploaded_by=_user(actor),
        status=ImageStatus.PENDING,
        batch=batch,
    )
    labels.apply(image)
    # The original is kept before any remote call; the row follows the files, and if it cannot
    # be written the files go again, so nothing is left half-written.
    image.original.save(filename or "image", ContentFile(data), save=False)
    try:
        image.thumbnail.save(
            f"{uuid.uuid4().hex}.jpg", ContentFile(facts.thumbnail or b""), save=False
        )
        with transaction.atomic():
            image.save()
            activity_record(
                actor=actor,
                application=library.application,
                verb="image.upload",
                obj=image,
                library=library.service,
            )
            _on_commit("image_add", image.pk)
    except BaseException:
        _remove_files(image.original.name, image.thumbnail.name)
        raise
    return image


def image_edit(
    *, actor: Any, image: Image, brief: str | None = None, labels: Labels | None = None
) -> Image:
    """Change brief and labels. Rows the backend holds change once the backend accepts it."""
    brief = clean_brief(brief) if brief is not None else None
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
            if labels is not None and _drops_labels(Labels.of(row), labels):
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
                _on_commit("image_update", row.pk)
        activity_record(
            actor=actor,
            application=row.library.application,
            verb="image.edit",
            obj=row,
            brief=brief,
            labels=labels.as_json() if labels else None,
        )
    return row


def _drops_labels(current: Labels, new: Labels) -> bool:
    return (bool(current.tags) and not new.tags) or any(
        old is not None and value is None
        for old, value in ((current.class_id1, new.class_id1), (current.class_id2, new.class_id2))
    )


def images_delete(*, actor: Any, images_: Iterable[Image]) -> int:
    """Delete rows: locally at once where the backend never saw them, else through a task."""
    ids = [image.pk for image in images_]
    remote: list[int] = []
    local_files: list[str] = []
    with transaction.atomic():
        rows = list(
            Image.objects.select_for_update()
            .select_related("library__application")
            .filter(pk__in=ids)
            .exclude(status=ImageStatus.DELETED)
        )
        for row in rows:
            never_sent = row.cont_sign is None and row.status in (
                ImageStatus.PENDING,
                ImageStatus.FAILED,
            )
            if never_sent:
                # A pending row's task has not started (it would hold the lock); it will find the
                # tombstone and stop.
                local_files += _tombstone(row)
            else:
                # Without a cont_sign an add may still have reached the backend: the task then
                # deletes by image, and an add that lands later deletes itself (_finish_add).
                if row.status != ImageStatus.DELETING:
                    _set_status(row, ImageStatus.DELETING)
                    row.save()
                remote.append(row.pk)
            activity_record(
                actor=actor, application=row.library.application, verb="image.delete", obj=row
            )
        for start in range(0, len(remote), DELETE_CHUNK):
            _on_commit("images_delete", remote[start : start + DELETE_CHUNK])
        transaction.on_commit(lambda: _remove_files(*local_files))
    return len(rows)


def _tombstone(row: Image) -> list[str]:
    """Mark a row deleted; returns the storage names to remove once that is committed."""
    names = [n for n in (row.original.name, row.thumbnail.name) if n]
    _set_status(row, ImageStatus.DELETED)
    row.deleted_at = timezone.now()
    row.pending_update = None
    row.original.name = ""
    row.thumbnail.name = ""
    row.save()
    return names


def _remove_files(*names: str | None) -> None:
    for name in names:
        if not name:
            continue
        try:
            default_storage.delete(name)
        except Exception:
            log.exception("could not remove %s from storage", name)


def _set_status(row: Image, status: str, error: BaiduError | None = None) -> None:
    row.status = status
    row.status_changed_at = timezone.now()
    row.error_code = "" if error is None else str(error.error_code)
    row.error_msg = "" if error is None else error.error_msg[:255]


# --- images: the remote side, run by tasks --------------------------------------------------------


def _read_original(row: Image) -> bytes:
    with default_storage.open(str(row.original.name), "rb") as handle:
        return handle.read()


def image_push(*, image_id: int) -> None:
    """Add a pending row to its backend. Safe to run twice, concurrently, or after a crash.

    Raises BaiduError only when it is retryable; terminal errors are recorded on the row.
    """
    with transaction.atomic():
        row = (
            Image.objects.select_for_update()
            .select_related("library__application")
            .filter(pk=image_id)
            .first()
        )
        if row is None or row.status not in (ImageStatus.PENDING, ImageStatus.INDEXING):
            return
        _set_status(row, ImageStatus.INDEXING)
        row.save()
    library = row.library
    client = client_for(library.application)
    data = _read_original(row)
    labels = Labels.of(row)
    try:
        cont_sign = client.add(
            library.service,
            image=data,
            brief=row.brief,
            tags=labels.tags,
            class_id1=labels.class_id1,
            class_id2=labels.class_id2,
        )
    except BaiduError as exc:
        if exc.error_code == 216681:
            _link_existing(row, data)
            return
        if exc.retryable:
            _touch(image_id)
            raise
        _finish_add(image_id, error=exc)
        return
    _finish_add(image_id, cont_sign=cont_sign)


def image_push_failed(*, image_id: int, error: BaiduError) -> None:
    """A retryable error that kept coming: give up and say so on the row."""
    _finish_add(image_id, error=error)


def _touch(image_id: int) -> None:
    Image.objects.filter(pk=image_id).update(status_changed_at=timezone.now())


def _finish_add(
    image_id: int,
    *,
    cont_sign: str | None = None,
    error: BaiduError | None = None,
    duplicate_of: Image | None = None,
) -> None:
    with transaction.atomic():
        row = Image.objects.select_for_update().select_related("library").get(pk=image_id)
        if cont_sign is not None and cont_sign != row.cont_sign:
            # The listing may have mirrored our own add as an API image meanwhile (§2.4).
            twin_files: list[str] = []
            for twin in row.library.images.filter(
                LIVE, cont_sign=cont_sign, source_kind=ImageSource.API
            ).exclude(pk=row.pk):
                twin_files += _tombstone(twin)
            transaction.on_commit(lambda: _remove_files(*twin_files))
        if cont_sign is not None:
            row.cont_sign = cont_sign
        if row.status == ImageStatus.INDEXING:
            if cont_sign is not None:
                _set_status(row, ImageStatus.INDEXED)
                if row.pending_update:
                    _on_commit("image_update", row.pk)
            else:
                _set_status(row, ImageStatus.FAILED, error)
                row.duplicate_of = duplicate_of
                row.pending_update = None
        elif row.status in (ImageStatus.DELETING, ImageStatus.DELETED) and cont_sign:
            # Deleted while the add was in flight: the backend now holds an image nobody wants.
            if row.status == ImageStatus.DELETED:
                _set_status(row, ImageStatus.DELETING)
            _on_commit("images_delete", [row.pk])
        row.save()
        row.library.last_activity_at = timezone.now()
        row.library.save(update_fields=["last_activity_at"])
        if row.batch_id is not None:
            if error is not None and error.error_code == 19:
                _batch_stop_full(row.batch_id)
            batch_settle(batch_id=row.batch_id)


def _link_existing(row: Image, data: bytes) -> None:
    """The backend says it holds these bytes already (216681). Find out as whose image."""
    library = row.library
    labels = Labels.of(row)
    if row.cont_sign:
        # A re-push of a row the backend still holds (§3.13): sync brief and labels by image
        # and keep the known cont_sign.
        client_for(library.application).update(
            library.service,
            image=data,
            brief=row.brief,
            tags=labels.tags or None,
            class_id1=labels.class_id1,
            class_id2=labels.class_id2,
        )
        _finish_add(row.pk, cont_sign=row.cont_sign)
        return
    sibling = (
        library.images.filter(LIVE, sha256=row.sha256, cont_sign__isnull=False)
        .exclude(pk=row.pk)
        .first()
    )
    exists = BaiduError(216681, "item exist", retryable=False)
    if sibling is not None:
        _finish_add(row.pk, error=exists, duplicate_of=sibling)
        return
    # No other row holds it: most likely our own earlier attempt, whose answer was lost to a
    # killed worker or a timeout. Find its cont_sign with the same bytes, then make the backend's
    # brief and labels ours.
    client = client_for(library.application)
    page = client.search(library.service, image=data, rn=5)
    hit = next((h for h in page.hits if h.score >= SAME_IMAGE_SCORE), None)
    if hit is None:
        _finish_add(row.pk, error=exists)
        return
    holder = library.images.filter(LIVE, cont_sign=hit.cont_sign).exclude(pk=row.pk).first()
    if holder is not None:
        _finish_add(row.pk, error=exists, duplicate_of=holder)
        return
    client.update(
        library.service,
        cont_sign=hit.cont_sign,
        brief=row.brief,
        tags=labels.tags or None,
        class_id1=labels.class_id1,
        class_id2=labels.class_id2,
    )
    _finish_add(row.pk, cont_sign=hit.cont_sign)


def image_sync_update(*, image_id: int) -> None:
    """Send a row's pending edit to its backend. Raises BaiduError only when retryable."""
    row = Image.objects.select_related("library__application").filter(pk=image_id).first()
    if row is None or row.status != ImageStatus.INDEXED or not row.pending_update:
        return
    change = dict(row.pending_update)
    library = row.library
    try:
        client_for(library.application).update(
            library.service,
            cont_sign=row.cont_sign,
            brief=change.get("brief"),
            tags=change.get("tags") or None,
            class_id1=change.get("class_id1"),
            class_id2=change.get("class_id2"),
        )
    except BaiduError as exc:
        if exc.retryable:
            raise
        image_update_failed(image_id=image_id, error=exc, change=change)
        return
    with transaction.atomic():
        row = Image.objects.select_for_update().get(pk=image_id)
        if "brief" in change:
            row.brief = change["brief"]
        if "tags" in change:
            Labels(tuple(change["tags"]), change.get("class_id1"), change.get("class_id2")).apply(
                row
            )
        # Only clear what was sent: a newer edit made meanwhile stays pending.
        row.pending_update = None if row.pending_update == change else row.pending_update
        row.error_code = row.error_msg = ""
        row.save()
        if row.pending_update:
            _on_commit("image_update", row.pk)


def image_update_failed(
    *, image_id: int, error: BaiduError, change: dict[str, Any] | None = None
) -> None:
    with transaction.atomic():
        row = Image.objects.select_for_update().get(pk=image_id)
        if change is None or row.pending_update == change:
            row.pending_update = None
        row.error_code, row.error_msg = str(error.error_code), error.error_msg[:255]
        row.save()


def images_remove(*, image_ids: Sequence[int]) -> None:
    """Delete rows in `deleting` from their backend, then tombstone them and drop their files.

    Raises BaiduError only when retryable; 216680 (already gone) counts as success.
    """
    rows = list(
        Image.objects.select_related("library__application")
        .filter(pk__in=image_ids, status=ImageStatus.DELETING)
        .order_by("pk")
    )
    if not rows:
        return
    library = rows[0].library
    client = client_for(library.application)
    signed = [row.cont_sign for row in rows if row.cont_sign]
    unsigned = [row for row in rows if not row.cont_sign]
    try:
        if signed:
            _ignore_gone(lambda: client.delete(library.service, cont_signs=signed))
        for row in unsigned:
            data = _read_original(row)
            _ignore_gone(lambda data=data: client.delete(library.service, image=data))  # type: ignore[misc]
    except BaiduError as exc:
        if exc.retryable:
            raise
        with transaction.atomic():
            for row in rows:
                _set_status(row, ImageStatus.DELETING, exc)
                row.save()
        return
    files: list[str] = []
    with transaction.atomic():
        for row in Image.objects.select_for_update().filter(
            pk__in=[r.pk for r in rows], status=ImageStatus.DELETING
        ):
            files += _tombstone(row)
        transaction.on_commit(lambda: _remove_files(*files))
    for batch_id in Batch.objects.filter(
        library=library, kind=Batch.Kind.CLEAR, status=Batch.Status.RUNNING
    ).values_list("pk", flat=True):
        batch_settle(batch_id=batch_id)


def _ignore_gone(call: Callable[[], None]) -> None:
    try:
        call()
    except BaiduError as exc:
        if exc.error_code != 216680:
            raise


# --- sweeping -------------------------------------------------------------------------------------


def images_sweep() -> dict[str, int]:
    """Queue again whatever has been waiting too long: lost messages, broker outages, crashes."""
    from gallery import tasks

    stale = timezone.now() - timedelta(seconds=settings.STALE_AFTER_SECONDS)
    waiting = Image.objects.filter(status_changed_at__lt=stale)
    adds = list(
        waiting.filter(status__in=[ImageStatus.PENDING, ImageStatus.INDEXING]).values_list(
            "pk", flat=True
        )[:1000]
    )
    deletes = list(waiting.filter(status=ImageStatus.DELETING).values_list("pk", flat=True)[:1000])
    updates = list(
        Image.objects.filter(
            status=ImageStatus.INDEXED, pending_update__isnull=False, updated_at__lt=stale
        ).values_list("pk", flat=True)[:1000]
    )
    for pk in adds:
        _dispatch(tasks.image_add, pk)
    for start in range(0, len(deletes), DELETE_CHUNK):
        _dispatch(tasks.images_delete, deletes[start : start + DELETE_CHUNK])
    for pk in updates:
        _dispatch(tasks.image_update, pk)
    Image.objects.filter(pk__in=adds + deletes).update(status_changed_at=timezone.now())
    jobs = _jobs_sweep(stale)
    return {"adds": len(adds), "deletes": len(deletes), "updates": len(updates), "jobs": jobs}


def _jobs_sweep(stale: Any) -> int:
    """Resume jobs whose task was lost; close upload batches whose page went away."""
    from gallery import tasks

    task_of = {
        Batch.Kind.UPLOAD: tasks.batch_fetch,
        Batch.Kind.COPY: tasks.batch_copy,
        Batch.Kind.CLEAR: tasks.library_clear,
    }
    n = 0
    for batch in Batch.objects.filter(status=Batch.Status.RUNNING, updated_at__lt=stale)[:100]:
        upload = batch.kind == Batch.Kind.UPLOAD
        if (upload and batch.cursor < len(batch.urls)) or (not upload and batch.feeding):
            _dispatch(task_of[Batch.Kind(batch.kind)], batch.pk)
            n += 1
        if batch.kind == Batch.Kind.UPLOAD and batch.feeding:
            # The page that was posting files went away.
            Batch.objects.filter(pk=batch.pk).update(feeding=False)
        batch_settle(batch_id=batch.pk)
        Batch.objects.filter(pk=batch.pk).update(updated_at=timezone.now())
    return n


# --- search ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    hit: SearchHit
    image: Image | None  # our row, or None: an image added outside Tuku
    deleted: bool


@dataclass(frozen=True)
class SearchOutcome:
    matches: list[Match]
    has_more: bool


def library_search(
    *,
    actor: Any,
    library: Library,
    data: bytes,
    labels: Labels = Labels(),
    tag_logic: int = 0,
    pn: int = 0,
    rn: int = 50,
) -> SearchOutcome:
    """Search a library with an image; hits come back in the backend's order and scores."""
    images.inspect(data, library.service)
    labels = labels.clean(library)
    page = client_for(library.application, interactive=True).search(
        library.service,
        image=data,
        tags=labels.tags,
        tag_logic=tag_logic if labels.tags else None,
        class_id1=labels.class_id1,
        class_id2=labels.class_id2,
        pn=pn,
        rn=rn,
    )
    signs = [hit.cont_sign for hit in page.hits]
    rows: dict[str, Image] = {}
    for row in library.images.filter(cont_sign__in=signs).order_by("status", "-pk"):
        # A live row wins over a tombstone of the same image.
        if row.cont_sign and (row.cont_sign not in rows or row.status != ImageStatus.DELETED):
            rows.setdefault(row.cont_sign, row)
    missing_briefs = [hit.brief for hit in page.hits if hit.cont_sign not in rows]
    by_brief = (
        {row.brief: row for row in library.images.filter(LIVE, brief__in=missing_briefs)}
        if missing_briefs
        else {}
    )
    matches = []
    for hit in page.hits:
        found = rows.get(hit.cont_sign) or by_brief.get(hit.brief)
        matches.append(Match(hit, found, found is not None and found.status == ImageStatus.DELETED))
    Library.objects.filter(pk=library.pk).update(last_activity_at=timezone.now())
    activity_record(
        actor=actor,
        application=library.application,
        verb="library.search",
        obj=library,
        hits=len(matches),
    )
    return SearchOutcome(matches, page.has_more)


# --- console additions: credentials, secrets, libraries, bulk edits, duplicate check ------------


def application_check_credentials(
    *, base_url: str, app_id: str, api_key: str, secret_key: str
) -> str:
    """Ask the backend how these keys authenticate: "token" or "sign" (console spec §3.1).

    Raises BaiduError with the backend's own code and message when they do not work: 14 for
    keys the signature check refuses, a client-side code when the backend cannot be reached.
    """
    from gallery.backends import http_session, rate_limiter

    connect, read = settings.BACKEND_TIMEOUT
    client = BaiduClient(
        base_url=base_url or "https://aip.baidubce.com",
        credentials=Credentials(app_id=app_id, api_key=api_key, secret_key=secret_key),
        auth_mode="auto",
        qps=2,
        limiter=rate_limiter(),
        limiter_key=f"tuku-probe-{api_key}",
        timeout=(connect, min(read, 15.0)),
        session=http_session(),
    )
    return client.detect_auth_mode()


def application_reveal_secret(*, actor: Any, application: Application) -> str:
    """The Secret Key in clear text, for an owner who asked; the reveal is logged."""
    activity_record(
        actor=actor, application=application, verb="application.reveal_secret", obj=application
    )
    return str(application.secret_key)


def application_rotate_secret(*, actor: Any, application: Application) -> str:
    """A new Secret Key for a built-in application; tokens issued before stop working (110)."""
    if application.backend != Application.Backend.BUILTIN:
        raise ValidationError(
            _("The Secret Key of a Baidu application is rotated in Baidu's console.")
        )
    from engine.services import engine_app_rotate_secret

    with transaction.atomic():
        secret = engine_app_rotate_secret(app_id=application.app_id)
        application.secret_key = secret
        application.save(update_fields=["secret_key", "updated_at"])
        activity_record(
            actor=actor, application=application, verb="application.rotate_secret", obj=application
        )
    return secret


# Codes that say nothing about the library: the probe could not get that far.
_PROBE_INCONCLUSIVE = frozenset({6, 13, 14, 15, 17, 18, 100, 110, 111, 216110})


def _probe_image() -> bytes:
    """A textured 320 px JPEG that every service's limits accept."""
    picture = PILImage.effect_noise((320, 320), 64).convert("RGB")
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=85)
    return out.getvalue()


def library_register(
    *, actor: Any, application: Application, service: str, capacity: int = DEFAULT_CAPACITY
) -> Library:
    """Record a Baidu library after a probe search shows that it exists (console spec §3.2)."""
    if application.backend == Application.Backend.BUILTIN:
        return library_create(
            actor=actor, application=application, service=service, capacity=capacity
        )
    if service not in Service.values:
        raise ValidationError({"service": _("Unknown service.")})
    if Library.objects.filter(application=application, service=service).exists():
        raise ValidationError({"service": _("This application already has that library.")})
    try:
        client_for(application, interactive=True).search(service, image=_probe_image(), rn=1)
    except BaiduError as exc:
        if exc.error_code == 216017:
            raise ValidationError(
                _(
                    "216017 not initialized: the library has not been created on Baidu yet. "
                    "Apply for it on the application's page in Baidu's console (real-name "
                    "verification is required), then register it here."
                )
            ) from None
        if exc.error_code in _PROBE_INCONCLUSIVE or not isinstance(exc.error_code, int):
            raise ValidationError(
                _("Could not probe the library: %(code)s %(msg)s")
                % {"code": exc.error_code, "msg": exc.error_msg}
            ) from None
    library = Library(application=application, service=service, capacity=capacity, registered=True)
    with transaction.atomic():
        library.save()
        activity_record(actor=actor, application=application, verb="library.register", obj=library)
    return library


CAPACITY_STEP = 500_000


def library_set_capacity(*, actor: Any, library: Library, capacity: int) -> Library:
    """Raise the capacity by at most 500,000 at a time (built-in: at once; Baidu: recorded)."""
    if capacity <= library.capacity:
        raise ValidationError(
            {"capacity": _("The new capacity must be more than %(n)d.") % {"n": library.capacity}}
        )
    if capacity - library.capacity > CAPACITY_STEP:
        raise ValidationError(
            {
                "capacity": _("Capacity grows by at most 500,000 per step (up to %(n)d now).")
                % {"n": library.capacity + CAPACITY_STEP}
            }
        )
    application = library.application
    with transaction.atomic():
        if application.backend == Application.Backend.BUILTIN:
            from engine.services import engine_library_set_capacity

            engine_library_set_capacity(
                app_id=application.app_id, service=library.service, capacity=capacity
            )
        previous = library.capacity
        library.capacity = capacity
        library.save(update_fields=["capacity"])
        activity_record(
            actor=actor,
            application=application,
            verb="library.capacity",
            obj=library,
            previous=previous,
            capacity=capacity,
        )
    return library


def image_repush(*, actor: Any, image: Image) -> Image:
    """Queue a failed row for another add."""
    with transaction.atomic():
        row = (
            Image.objects.select_for_update()
            .select_related("library__application")
            .get(pk=image.pk)
        )
        if row.status != ImageStatus.FAILED:
            raise ValidationError(_("Only an image whose upload failed can be pushed again."))
        _set_status(row, ImageStatus.PENDING)
        row.duplicate_of = None
        row.save()
        activity_record(
            actor=actor, application=row.library.application, verb="image.repush", obj=row
        )
        _on_commit("image_add", row.pk)
    return row


@dataclass(frozen=True)
class BulkResult:
    changed: int
    errors: list[tuple[Image, str]]


def images_retag(*, actor: Any, images_: Iterable[Image], labels: Labels) -> BulkResult:
    """Give every image the same labels: one update per image, as the API has no batch update."""
    changed, errors = 0, []
    for image in images_:
        try:
            image_edit(actor=actor, image=image, labels=labels)
        except ValidationError as exc:
            errors.append((image, " ".join(exc.messages)))
        else:
            changed += 1
    return BulkResult(changed, errors)


@dataclass(frozen=True)
class CheckOutcome:
    """Console spec §3.10: an exact copy, else the search's verdict against the threshold."""

    verdict: str  # "exact", "likely" or "not_found"
    exact: Image | None
    matches: list[Match]
    top_score: float | None
    threshold: float


def library_check(*, actor: Any, library: Library, data: bytes) -> CheckOutcome:
    """Is this image already in the library? Raises ImageInvalid or BaiduError."""
    # The exact check needs only the hash; library_search decodes and validates the file.
    sha256 = hashlib.sha256(data).hexdigest()
    exact = library.images.filter(LIVE, sha256=sha256).order_by("-created_at", "-id").first()
    if exact is not None:
        return CheckOutcome("exact", exact, [], None, library.match_threshold)
    outcome = library_search(actor=actor, library=library, data=data, rn=10)
    live = [m for m in outcome.matches if not m.deleted]
    top = live[0].hit.score if live else None
    verdict = "likely" if top is not None and top >= library.match_threshold else "not_found"
    return CheckOutcome(verdict, None, live, top, library.match_threshold)


# --- jobs: batch upload, re-push, copy, clear (console spec §3.5, §3.9, §3.13) ----------------

IN_FLIGHT = (ImageStatus.PENDING, ImageStatus.INDEXING)
NOT_SENT_FULL = "not sent: the library is full"


def _batch_labels(batch: Batch) -> Labels:
    data = batch.labels or {}
    return Labels(tuple(data.get("tags") or ()), data.get("class_id1"), data.get("class_id2"))


def batch_create(
    *,
    actor: Any,
    library: Library,
    urls: Sequence[str] = (),
    brief: str = "",
    labels: Labels = Labels(),
    files_follow: bool = True,
) -> Batch:
    """Start an upload batch. Files are then posted into it (`batch_add_file`) while
    `files_follow`; the URLs are downloaded by a task, so a closed page loses nothing."""
    labels = labels.clean(library)
    if brief:
        clean_brief(brief)
    urls = [u.strip() for u in urls if u.strip()]
    with transaction.atomic():
        batch = Batch.objects.create(
            library=library,
            kind=Batch.Kind.UPLOAD,
            created_by=_user(actor),
            urls=urls,
            total=len(urls),
            brief=brief,
            labels=labels.as_json(),
            feeding=files_follow,
        )
        activity_record(
            actor=actor,
            application=library.application,
            verb="batch.create",
            obj=batch,
            library=library.service,
            urls=len(urls),
        )
        if urls:
            _on_commit("batch_fetch", batch.pk)
    return batch


def _batch_problem(
    batch_id: int, name: str, code: Any, message: str, duplicate: Image | None = None
) -> None:
    with transaction.atomic():
        batch = Batch.objects.select_for_update().get(pk=batch_id)
        batch.problems = [
            *batch.problems,
            {
                "name": name[:300],
                "code": code,
                "message": message[:500],
                "duplicate": duplicate.pk if duplicate is not None else None,
            },
        ]
        batch.save(update_fields=["problems", "updated_at"])


def _batch_item(batch: Batch, *, data: bytes, name: str, **kwargs: Any) -> Image | None:
    """Turn one input into a row of the batch; a refusal becomes one of its problems."""
    library = batch.library
    try:
        return image_upload(
            actor=batch.created_by,
            library=library,
            data=data,
            filename=name,
            batch=batch,
            **kwargs,
        )
    except images.ImageInvalid as exc:
        _batch_problem(batch.pk, name, exc.code, exc.message)
    except DuplicateImage as exc:
        _batch_problem(
            batch.pk, name, 216681, _("The same file (SHA-256) is already here."), exc.image
        )
    except LibraryFull as exc:
        _batch_problem(batch.pk, name, 19, " ".join(exc.messages))
        _batch_stop_full(batch.pk)
    except ValidationError as exc:
        _batch_problem(batch.pk, name, "", " ".join(exc.messages))
    return None


def batch_add_file(*, batch: Batch, data: bytes | None, filename: str) -> Image | None:
    """One file posted into a running upload batch. `data` None: the file was over 3 MiB."""
    Batch.objects.filter(pk=batch.pk).update(total=F("total") + 1)
    batch.refresh_from_db()
    name = filename or "image"
    if batch.status != Batch.Status.RUNNING:
        _batch_problem(batch.pk, name, "", _("Not sent: the batch was stopped."))
        return None
    if data is None:
        _batch_problem(batch.pk, name, 216202, _("The file is larger than 3 MiB."))
        return None
    return _batch_item(
        batch,
        data=data,
        name=name,
        brief=batch.brief or None,
        labels=_batch_labels(batch),
    )


def batch_close(*, batch: Batch) -> None:
    """The browser has posted every file; the batch is done once its rows settle."""
    Batch.objects.filter(pk=batch.pk, kind=Batch.Kind.UPLOAD).update(feeding=False)
    batch_settle(batch_id=batch.pk)


def batch_fetch(*, batch_id: int) -> None:
    """Download the batch's URLs one by one (task side), resuming at `cursor`."""
    from gallery import fetch

    while True:
        batch = Batch.objects.select_related("library__application").get(pk=batch_id)
        if batch.status != Batch.Status.RUNNING or batch.cursor >= len(batch.urls):
            break
        position = batch.cursor
        url = batch.urls[position]
        try:
            fetched = fetch.fetch(url)
        except fetch.FetchError as exc:
            _batch_problem(batch.pk, url, exc.code, f"{exc.error_msg}: {exc.detail}")
        else:
            _batch_item(
                batch,
                data=fetched.data,
                name=fetched.filename,
                brief=batch.brief or None,
                labels=_batch_labels(batch),
                source_kind=ImageSource.URL,
                source=url[:1024],
            )
        # Only this task moves the cursor; a redelivered message resumes after the last URL.
        Batch.objects.filter(pk=batch_id, cursor=position).update(cursor=position + 1)
    batch_settle(batch_id=batch_id)


def _batch_stop_full(batch_id: int) -> None:
    """The backend said 19 (or the library is full here): send nothing more of this batch."""
    with transaction.atomic():
        batch = Batch.objects.select_for_update().get(pk=batch_id)
        if batch.status == Batch.Status.RUNNING:
            batch.status = Batch.Status.FULL
            batch.message = _(
                "The library is full: the remaining images were not sent. Expand its capacity, "
                "then retry the failed ones."
            )
            batch.finished_at = timezone.now()
            batch.feeding = False
            batch.save()
        for row in Image.objects.select_for_update().filter(
            batch_id=batch_id, status=ImageStatus.PENDING
        ):
            _set_status(row, ImageStatus.FAILED, BaiduError(19, NOT_SENT_FULL, retryable=False))
            row.save()


def batch_settle(*, batch_id: int) -> None:
    """Mark a running batch done once nothing feeds it and none of its rows is in flight."""
    batch = Batch.objects.filter(pk=batch_id).first()
    if batch is None or batch.status != Batch.Status.RUNNING or batch.feeding:
        return
    if batch.kind == Batch.Kind.UPLOAD and batch.cursor < len(batch.urls):
        return  # URLs still to download
    if batch.kind == Batch.Kind.CLEAR:
        busy = batch.library.images.exclude(status=ImageStatus.DELETED).exists()
    else:
        busy = batch.images.filter(status__in=IN_FLIGHT).exists()
    if not busy:
        Batch.objects.filter(pk=batch_id, status=Batch.Status.RUNNING, feeding=False).update(
            status=Batch.Status.DONE, finished_at=timezone.now()
        )


def batch_cancel(*, actor: Any, batch: Batch) -> int:
    """Stop a batch: rows not sent yet go without a remote call. Returns how many."""
    if batch.kind == Batch.Kind.CLEAR:
        raise ValidationError(_("Clearing a library cannot be cancelled."))
    files: list[str] = []
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
                    _set_status(row, ImageStatus.INDEXED)
                else:
                    _set_status(row, ImageStatus.FAILED)
                    row.error_msg = _("not sent: the re-push was cancelled")
                row.save()
            else:
                files += _tombstone(row)
        activity_record(
            actor=actor,
            application=batch.library.application,
            verb="batch.cancel",
            obj=locked,
            not_sent=n,
        )
        transaction.on_commit(lambda: _remove_files(*files))
    batch.refresh_from_db()
    return n


def batch_retry_failed(*, actor: Any, batch: Batch) -> int:
    """Push the batch's failed rows again (not the ones that are duplicates of another row)."""
    if batch.kind == Batch.Kind.CLEAR:
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
            _set_status(row, ImageStatus.PENDING)
            row.save()
            _on_commit("image_add", row.pk)
        locked.status = Batch.Status.RUNNING
        locked.message = ""
        locked.finished_at = None
        locked.save()
        activity_record(
            actor=actor,
            application=batch.library.application,
            verb="batch.retry",
            obj=locked,
            images=len(rows),
        )
    batch.refresh_from_db()
    return len(rows)


def library_repush(*, actor: Any, library: Library) -> Batch:
    """Re-add every settled live row from its stored bytes (§3.13). Rows added through the API
    have no original and are left as they are."""
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
            created_by=_user(actor),
            total=len(rows),
        )
        for row in rows:
            _set_status(row, ImageStatus.PENDING)
            row.batch = batch
            row.duplicate_of = None
            row.save()
        activity_record(
            actor=actor,
            application=library.application,
            verb="library.repush",
            obj=library,
            images=len(rows),
        )
        ids = [row.pk for row in rows]
        transaction.on_commit(lambda: _dispatch_adds(ids))
    return batch


def _dispatch_adds(ids: Sequence[int]) -> None:
    from gallery import tasks

    for pk in ids:
        _dispatch(tasks.image_add, pk)


def library_copy(*, actor: Any, source: Library, target: Library) -> Batch:
    """Copy the live rows with their originals into another library of the same service and
    push them (§3.13). Rows are made by a task, resumable at `cursor`."""
    if target.pk == source.pk:
        raise ValidationError({"target": _("Choose another library.")})
    if target.service != source.service:
        raise ValidationError({"target": _("Copies go to a library of the same service only.")})
    total = source.images.filter(LIVE).exclude(original="").count()
    if not total:
        raise ValidationError(_("This library has no image with a stored original to copy."))
    with transaction.atomic():
        batch = Batch.objects.create(
            library=target,
            source_library=source,
            kind=Batch.Kind.COPY,
            created_by=_user(actor),
            total=total,
            feeding=True,
        )
        activity_record(
            actor=actor,
            application=target.application,
            verb="library.copy",
            obj=batch,
            source=str(source),
            images=total,
        )
        _on_commit("batch_copy", batch.pk)
    return batch


def batch_copy(*, batch_id: int, chunk: int = 50) -> None:
    """Task side of a copy: make the target rows in chunks, resuming after `cursor`."""
    while True:
        batch = Batch.objects.select_related("library__application", "source_library").get(
            pk=batch_id
        )
        source = batch.source_library
        if batch.status != Batch.Status.RUNNING or source is None:
            break
        rows = list(
            source.images.filter(LIVE, pk__gt=batch.cursor)
            .exclude(original="")
            .order_by("pk")[:chunk]
        )
        if not rows:
            break
        for row in rows:
            if not Batch.objects.filter(pk=batch_id, status=Batch.Status.RUNNING).exists():
                break
            try:
                data = _read_original(row)
            except OSError as exc:
                _batch_problem(batch_id, row.brief, "internal", str(exc))
            else:
                _batch_item(
                    batch,
                    data=data,
                    name=PurePosixPath(str(row.original.name)).name,
                    brief=row.brief,
                    labels=Labels.of(row),
                    source_kind=row.source_kind,
                    source=row.source,
                )
            Batch.objects.filter(pk=batch_id).update(cursor=row.pk)
    Batch.objects.filter(pk=batch_id).update(feeding=False)
    batch_settle(batch_id=batch_id)


def library_clear(*, actor: Any, library: Library, confirm: str) -> Batch:
    """Empty a library (§3.9); the work runs in a task with progress."""
    if confirm.strip() != library.confirm_name:
        raise ValidationError(
            {"confirm": _("Type %(name)s to confirm.") % {"name": library.confirm_name}}
        )
    with transaction.atomic():
        batch = Batch.objects.create(
            library=library,
            kind=Batch.Kind.CLEAR,
            created_by=_user(actor),
            total=library.images.exclude(status=ImageStatus.DELETED).count(),
            feeding=True,
        )
        activity_record(
            actor=actor,
            application=library.application,
            verb="library.clear",
            obj=library,
            images=batch.total,
        )
        _on_commit("library_clear", batch.pk)
    return batch


def library_clear_run(*, batch_id: int, chunk: int = 500) -> None:
    """Task side of clear. Built-in: the engine empties the library, then every row becomes a
    tombstone. Baidu: every known row is deleted through the usual path, ≤ 100 per call."""
    batch = Batch.objects.select_related("library__application").get(pk=batch_id)
    if batch.status != Batch.Status.RUNNING:
        return
    library = batch.library
    application = library.application
    if application.backend == Application.Backend.BUILTIN:
        from engine.services import engine_library_clear

        engine_library_clear(app_id=application.app_id, service=library.service)
        while True:
            files: list[str] = []
            with transaction.atomic():
                rows = list(
                    Image.objects.select_for_update()
                    .filter(library=library)
                    .exclude(status=ImageStatus.DELETED)[:chunk]
                )
                for row in rows:
                    files += _tombstone(row)
            _remove_files(*files)
            if len(rows) < chunk:
                break
    else:
        last = 0
        while True:
            rows = list(
                library.images.filter(pk__gt=last)
                .exclude(status__in=[ImageStatus.DELETED, ImageStatus.DELETING])
                .order_by("pk")[:chunk]
            )
            if not rows:
                break
            images_delete(actor=batch.created_by, images_=rows)
            last = rows[-1].pk
    Batch.objects.filter(pk=batch_id).update(feeding=False)
    batch_settle(batch_id=batch_id)


# --- applications: services and QPS (§2.1) ----------------------------------------------------


def application_update(
    *, actor: Any, application: Application, services: Sequence[str], qps: int
) -> Application:
    """Change the enabled services and the QPS tier. Built-in: the engine follows at once;
    Baidu: recorded here (the services must also be ticked in Baidu's console)."""
    chosen = sorted(set(services))
    unknown = set(chosen) - set(Service.values)
    if unknown:
        raise ValidationError({"services": _("Unknown services: %s") % ", ".join(sorted(unknown))})
    if not chosen:
        raise ValidationError({"services": _("Tick at least one service.")})
    if qps < 0:
        raise ValidationError({"qps_custom": _("The QPS limit must be a positive number.")})
    with transaction.atomic():
        if application.backend == Application.Backend.BUILTIN:
            from engine.services import engine_app_update

            engine_app_update(app_id=application.app_id, services=chosen, qps=qps)
        previous = {"services": application.services, "qps": application.qps}
        application.services = chosen
        application.qps = qps
        application.save(update_fields=["services", "qps", "updated_at"])
        activity_record(
            actor=actor,
            application=application,
            verb="application.update",
            obj=application,
            previous=previous,
            services=chosen,
            qps=qps,
        )
    return application


# --- built-in libraries: images added through the API (§2.4) ------------------------------------


def library_sync_api(*, library: Library) -> dict[str, int]:
    """Mirror what other clients did to a built-in library through the wire API: entries the
    console does not know become rows (source "API", the engine's thumbnail, no original);
    rows whose cont_sign the engine no longer holds become tombstones. Cheap when nothing
    changed: one read of the engine library's sequence number."""
    application = library.application
    if application.backend != Application.Backend.BUILTIN:
        return {"added": 0, "removed": 0}
    from engine.services import (
        EngineNotFoundError,
        engine_library_cont_signs,
        engine_library_entries_since,
    )

    added = removed = 0
    try:
        since = engine_library_entries_since(
            app_id=application.app_id, service=library.service, after_seq=library.engine_seq
        )
    except EngineNotFoundError:
        return {"added": 0, "removed": 0}
    if since.seq == library.engine_seq and not since.entries:
        return {"added": 0, "removed": 0}
    signs = [e.cont_sign for e in since.entries]
    hashes = [e.sha256 for e in since.entries]
    known = set(
        library.images.filter(cont_sign__in=signs)
        .exclude(status=ImageStatus.DELETED)
        .values_list("cont_sign", flat=True)
    )
    # Our own adds in flight: the engine has them before the task stores their cont_sign.
    in_flight = set(
        library.images.filter(status__in=IN_FLIGHT, sha256__in=hashes).values_list(
            "sha256", flat=True
        )
    )
    for entry in since.entries:
        if entry.cont_sign in known or entry.sha256 in in_flight:
            continue
        _mirror_entry(library, entry)
        known.add(entry.cont_sign)
        added += 1
    if since.removed:
        # Rows first, then the engine's set: a row indexed meanwhile is in that set.
        rows = dict(
            library.images.filter(status=ImageStatus.INDEXED).values_list("cont_sign", "pk")
        )
        live = engine_library_cont_signs(app_id=application.app_id, service=library.service)
        gone = [pk for sign, pk in rows.items() if sign not in live]
        files: list[str] = []
        with transaction.atomic():
            for row in Image.objects.select_for_update().filter(
                pk__in=gone, status=ImageStatus.INDEXED
            ):
                files += _tombstone(row)
                removed += 1
        _remove_files(*files)
    Library.objects.filter(pk=library.pk).update(engine_seq=since.seq)
    library.engine_seq = since.seq
    return {"added": added, "removed": removed}


def _mirror_entry(library: Library, entry: Any) -> Image | None:
    labels = [*entry.tags, None, None]
    image = Image(
        library=library,
        sha256=entry.sha256,
        width=entry.width,
        height=entry.height,
        bytes=entry.byte_size,
        format=entry.format,
        brief=entry.brief[:BRIEF_MAX_BYTES],
        source="API",
        source_kind=ImageSource.API,
        cont_sign=entry.cont_sign,
        status=ImageStatus.INDEXED,
        tag1=labels[0],
        tag2=labels[1],
        class_id1=entry.class_id1,
        class_id2=entry.class_id2,
    )
    if entry.thumbnail:
        image.thumbnail.save(f"{uuid.uuid4().hex}.jpg", ContentFile(entry.thumbnail), save=False)
    try:
        with transaction.atomic():
            image.save()
    except IntegrityError:
        # Mirrored by a concurrent request, or stored by our own task meanwhile.
        _remove_files(image.thumbnail.name)
        return None
    return image
