"""The console's domain: applications, who may use them, their libraries and the image rows.

Every image Tuku sends to a backend is first a row here; the row is the link between the user's
original (kept in our storage) and the backend's `cont_sign`. Writes go through `services`.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import PurePosixPath
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from console.fields import EncryptedTextField
from wire.aliyun import (
    FABRIC,
    GENERIC,
    MAX_CUSTOM_CONTENT,
    MAX_ID,
    MAX_INSTANCE_NAME,
    MAX_STR_ATTR,
    PRODUCT,
)
from wire.baidu import MAX_BRIEF_BYTES, MAX_LABEL

TAG_MIN, TAG_MAX = 1, MAX_LABEL
DEFAULT_CAPACITY = 500_000


class Service(models.TextChoices):
    SAME_HQ = "same_hq", _("Same image")
    SIMILAR = "similar", _("Similar image")
    PRODUCT = "product", _("Product")
    PICTUREBOOK = "picturebook", _("Picture book")
    MATERIEL = "materiel", _("Fabric / material")


# The Alibaba instance types the console serves, as the service whose pages and limits fit them.
SERVICE_OF_TYPE: dict[int, str] = {
    PRODUCT: Service.PRODUCT,
    GENERIC: Service.SIMILAR,
    FABRIC: Service.MATERIEL,
}
TYPE_OF_SERVICE = {service: kind for kind, service in SERVICE_OF_TYPE.items()}


TIER_LABELS = {
    "free": _("Free tier"),
    "paid": _("Paid tier"),
    "custom": _("Custom"),
    "unlimited": _("Unlimited"),
}


class Application(models.Model):
    class Backend(models.TextChoices):
        BUILTIN = "builtin", _("Built-in engine")
        BAIDU = "baidu", _("Baidu AI Cloud")
        BUILTIN_ALIYUN = "builtin_aliyun", _("Built-in engine, Alibaba wire")
        ALIYUN = "aliyun", _("Alibaba Cloud")

    class AuthMode(models.TextChoices):
        TOKEN = "token", _("Access token")
        SIGN = "sign", _("Request signing")

    name = models.CharField(_("name"), max_length=100)
    backend = models.CharField(_("backend"), max_length=16, choices=Backend.choices)
    # Empty for built-in applications: they follow settings.ENGINE_URL wherever it moves.
    base_url = models.URLField(_("base URL"), max_length=255, blank=True)
    # Alibaba: the region of the instances (cn-shanghai); it names the hosted endpoint too.
    region = models.CharField(_("region"), max_length=32, blank=True)
    app_id = models.CharField(_("AppID"), max_length=32)
    api_key = models.CharField(_("API Key"), max_length=64)
    secret_key = EncryptedTextField(_("Secret Key"))
    services = models.JSONField(_("enabled services"), default=list)
    # 2 = free tier, 10 = paid tier, any other positive number = custom, 0 = unlimited.
    qps = models.PositiveIntegerField(_("QPS limit"), default=10)
    auth_mode = models.CharField(max_length=8, choices=AuthMode.choices, default=AuthMode.TOKEN)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Set when an owner deleted it while its libraries' images are still being deleted from a
    # hosted backend (`gallery.services.removal`); the row goes once the last library has.
    deleting_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(backend__in=["builtin", "baidu", "builtin_aliyun", "aliyun"]),
                name="application_backend_valid",
            ),
            models.CheckConstraint(
                condition=Q(auth_mode__in=["token", "sign"]), name="application_auth_mode_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def endpoint(self) -> str:
        return settings.ENGINE_URL if self.builtin else self.base_url

    @property
    def builtin(self) -> bool:
        return self.backend in (self.Backend.BUILTIN, self.Backend.BUILTIN_ALIYUN)

    @property
    def aliyun(self) -> bool:
        """Whether the application speaks Alibaba's wire: instances and pictures, not libraries
        of Baidu services and briefs."""
        return self.backend in (self.Backend.ALIYUN, self.Backend.BUILTIN_ALIYUN)

    @property
    def qps_tier(self) -> str:
        return {0: "unlimited", 2: "free", 10: "paid"}.get(self.qps, "custom")

    @property
    def qps_tier_label(self) -> str:
        """The tier in the viewer's language ("Paid tier")."""
        return str(TIER_LABELS[self.qps_tier])


class Role(models.TextChoices):
    VIEWER = "viewer", _("Viewer")
    EDITOR = "editor", _("Editor")
    OWNER = "owner", _("Owner")


ROLE_RANK = {Role.VIEWER: 1, Role.EDITOR: 2, Role.OWNER: 3}


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=8, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "application"], name="membership_unique"),
            models.CheckConstraint(
                condition=Q(role__in=["viewer", "editor", "owner"]), name="membership_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} of {self.application}"


class PasswordLink(models.Model):
    """The one-time link an owner gives a teammate to set their password (there may be no
    mail server). Only the SHA-256 of the token is kept; the token itself is shown once. An
    account has at most one live link: issuing a fresh one replaces it. Using it deletes it."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="password_link"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    # Where and by whom it was issued: the activity log of that application records its use.
    application = models.ForeignKey(
        Application, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"set-password link of {self.user}"

    @staticmethod
    def hash_of(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()


class Library(models.Model):
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="libraries")
    service = models.CharField(_("service"), max_length=16, choices=Service.choices)
    capacity = models.PositiveIntegerField(_("capacity"), default=DEFAULT_CAPACITY)
    # "Likely in library" verdict of the duplicate check (console §3.10).
    match_threshold = models.FloatField(_("match threshold"), default=0.90)
    # Baidu libraries are created in Baidu's console; Tuku records that it saw one answer.
    registered = models.BooleanField(default=False)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    # Built-in libraries: the last engine change-log number mirrored (console §2.4).
    engine_seq = models.BigIntegerField(default=0)
    # Alibaba: the instance this library is, by the name every call addresses it with; its
    # service type is `service` (aliyun.SERVICE_OF_TYPE). Empty for Baidu libraries.
    instance_name = models.CharField(_("instance name"), max_length=MAX_INSTANCE_NAME, blank=True)
    # The name the console shows; empty: the service's (Baidu) or the instance's (Alibaba).
    # Only ours: the backend addresses the library by its service or instance name.
    name = models.CharField(_("name"), max_length=100, blank=True)
    # Set while a delete job removes its images from a hosted backend (`gallery.services
    # .removal`): nothing more is added, and the row goes once the backend part is done.
    deleting_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["application_id", "service", "instance_name"]
        verbose_name_plural = "libraries"
        constraints = [
            # A Baidu application has one library per service; an Alibaba one any number of
            # instances of a type, each with its own name.
            models.UniqueConstraint(
                fields=["application", "service"],
                condition=Q(instance_name=""),
                name="library_unique",
            ),
            models.UniqueConstraint(
                fields=["application", "instance_name"],
                condition=~Q(instance_name=""),
                name="library_instance_unique",
            ),
            models.CheckConstraint(condition=Q(capacity__gte=1), name="library_capacity_positive"),
            models.CheckConstraint(
                condition=Q(service__in=[s.value for s in Service]), name="library_service_valid"
            ),
            models.CheckConstraint(
                condition=Q(match_threshold__gte=0) & Q(match_threshold__lte=1),
                name="library_threshold_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.application} / {self.display_name}"

    @property
    def display_name(self) -> str:
        return self.name or self.instance_name or str(self.get_service_display())

    @property
    def is_instance(self) -> bool:
        """An Alibaba instance: pictures with product ids and attributes, not briefs and tags."""
        return bool(self.instance_name)

    @property
    def uses_class_ids(self) -> bool:
        return self.service == Service.PRODUCT and not self.is_instance

    @property
    def confirm_name(self) -> str:
        """What the user types to confirm clearing the library (console §3.9)."""
        return f"{self.application.name}/{self.instance_name or self.service}"


class TaskState(models.Model):
    """What the task machinery keeps on a row a task works on (`gallery.services.task_base`):
    which task holds it and until when, and when to try again while the backend is away."""

    # The task at work on the row (its Celery id, the same across its retries) and until when;
    # renewed while the task runs. A lease that ran out means its worker died.
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    # When the sweeper queues the row next: the end of a wait for the backend, or at once when
    # the task could not be queued.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Rounds of retries run out in a row while the backend was away; each doubles the wait.
    waits = models.PositiveSmallIntegerField(default=0)

    # What a task that got through resets on a row that was waiting.
    RECOVERED: ClassVar[dict[str, Any]] = {"waits": 0}

    class Meta:
        abstract = True


class Batch(TaskState):
    """A background job over many rows: upload, re-push, copy or clear (console §3.5, §3.9,
    §3.13). Its items are the image rows pointing at it (a row belongs to the last job that
    pushed it) plus `problems`, the inputs that never became a row (bad file, failed download).
    """

    class Kind(models.TextChoices):
        UPLOAD = "upload", _("Batch upload")
        REPUSH = "repush", _("Re-push library")
        COPY = "copy", _("Copy library")
        CLEAR = "clear", _("Clear library")
        DELETE = "delete", _("Delete library")

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")
        FULL = "full", _("Stopped: library full")

    library = models.ForeignKey("Library", on_delete=models.CASCADE, related_name="batches")
    # Copy: the library the rows come from.
    source_library = models.ForeignKey(
        "Library", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.UPLOAD)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Inputs still to be turned into rows by a task: URLs to download (upload), or the last
    # source row copied (copy), so that a redelivered task resumes where it stopped.
    urls = models.JSONField(default=list, blank=True)
    cursor = models.BigIntegerField(default=0)
    # True while inputs may still arrive: the browser is posting files, or a task is fetching
    # URLs or copying rows. The job is done when nothing is feeding and no row is in flight.
    feeding = models.BooleanField(default=False)
    total = models.PositiveIntegerField(default=0)
    # [{"name": ..., "code": ..., "message": ..., "duplicate": image id or None}]
    problems = models.JSONField(default=list, blank=True)
    brief = models.CharField(max_length=MAX_BRIEF_BYTES, blank=True)
    labels = models.JSONField(default=dict, blank=True)
    # An Alibaba instance's upload: the picture fields every file gets (gallery.pictures).
    picture = models.JSONField(default=dict, blank=True)
    # Why the job stopped (library full), or the error it is waiting out (`waits`).
    message = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    RECOVERED: ClassVar[dict[str, Any]] = {**TaskState.RECOVERED, "message": ""}

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "batches"
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["running", "done", "cancelled", "full"]),
                name="batch_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

    @property
    def running(self) -> bool:
        return self.status == self.Status.RUNNING


class ImageStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    INDEXING = "indexing", _("Indexing")
    INDEXED = "indexed", _("Indexed")
    FAILED = "failed", _("Failed")
    DELETING = "deleting", _("Deleting")
    DELETED = "deleted", _("Deleted")  # tombstone: files gone, row kept for search hits


class ImageSource(models.TextChoices):
    UPLOAD = "upload", _("Upload")
    URL = "url", _("URL")
    API = "api", _("API")


class ImageQuerySet(models.QuerySet["Image"]):
    def live(self) -> ImageQuerySet:
        """Rows the library holds or is about to hold: everything but deletions."""
        return self.exclude(status__in=[ImageStatus.DELETING, ImageStatus.DELETED])

    def held(self) -> ImageQuerySet:
        """Live rows whose bytes the backend holds or is about to: not a failed upload that
        never got there. Only these make the same file "already here"."""
        return self.live().exclude(status=ImageStatus.FAILED, cont_sign__isnull=True)

    def listed(self) -> ImageQuerySet:
        """Rows a page lists: everything but tombstones (a row being deleted still shows)."""
        return self.exclude(status=ImageStatus.DELETED)


def original_path(image: Image, filename: str) -> str:
    suffix = {
        "JPEG": ".jpg",
        "PNG": ".png",
        "BMP": ".bmp",
        "GIF": ".gif",
        "WEBP": ".webp",
        "TIFF": ".tif",
        "PPM": ".ppm",
    }.get(image.format, "")
    return f"originals/{image.library_id}/{image.sha256[:2]}/{uuid.uuid4().hex}{suffix}"


def thumbnail_path(image: Image, filename: str) -> str:
    return f"thumbnails/{image.library_id}/{PurePosixPath(filename).name}"


def _tag_range(field: str) -> Q:
    return Q(**{f"{field}__isnull": True}) | (
        Q(**{f"{field}__gte": TAG_MIN}) & Q(**{f"{field}__lte": TAG_MAX})
    )


class Image(TaskState):
    library = models.ForeignKey(Library, on_delete=models.CASCADE, related_name="images")
    original = models.FileField(upload_to=original_path, max_length=255, blank=True)
    thumbnail = models.FileField(upload_to=thumbnail_path, max_length=255, blank=True)
    sha256 = models.CharField(max_length=64)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    bytes = models.PositiveIntegerField()
    format = models.CharField(max_length=8)
    source = models.CharField(max_length=1024, blank=True)
    source_kind = models.CharField(
        max_length=8, choices=ImageSource.choices, default=ImageSource.UPLOAD
    )
    # NULL until the backend answers; NULLs do not collide in the unique constraint.
    cont_sign = models.CharField(max_length=24, null=True, blank=True)  # noqa: DJ001
    brief = models.CharField(_("brief"), max_length=MAX_BRIEF_BYTES)
    tag1 = models.PositiveIntegerField(null=True, blank=True)
    tag2 = models.PositiveIntegerField(null=True, blank=True)
    class_id1 = models.PositiveIntegerField(null=True, blank=True)
    class_id2 = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=ImageStatus.choices, default="pending")
    # The last failed call: a wire code (integer as text) or a client-side one ("timeout").
    error_code = models.CharField(max_length=32, blank=True)
    error_msg = models.CharField(max_length=255, blank=True)
    # Set when the backend refused the add with 216681 and the image is already a row here.
    duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # An edit waiting for the backend: {"brief": ..., "tags": [...], "class_id1": ...}. The
    # row's own fields keep what the backend holds until the update call succeeds.
    pending_update = models.JSONField(null=True, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    batch = models.ForeignKey(
        Batch, null=True, blank=True, on_delete=models.SET_NULL, related_name="images"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # When the row last changed status or was last queued by the sweeper, which queues again a
    # row that no task has taken for too long (its message may be lost).
    status_changed_at = models.DateTimeField(auto_now_add=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = ImageQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["library", "cont_sign"],
                condition=Q(cont_sign__isnull=False) & ~Q(status="deleted"),
                name="image_cont_sign_unique_live",
            ),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in ImageStatus]), name="image_status_valid"
            ),
            models.CheckConstraint(condition=_tag_range("tag1"), name="image_tag1_range"),
            models.CheckConstraint(condition=_tag_range("tag2"), name="image_tag2_range"),
            models.CheckConstraint(condition=_tag_range("class_id1"), name="image_class_id1_range"),
            models.CheckConstraint(condition=_tag_range("class_id2"), name="image_class_id2_range"),
            models.CheckConstraint(
                condition=Q(tag2__isnull=True) | Q(tag1__isnull=False), name="image_tags_in_order"
            ),
            models.CheckConstraint(
                condition=Q(status="indexed", cont_sign__isnull=False) | ~Q(status="indexed"),
                name="image_indexed_has_cont_sign",
            ),
        ]
        indexes = [
            # Keyset paging of the listing, newest first, with and without a status filter.
            models.Index(fields=["library", "-created_at", "-id"], name="image_listing"),
            models.Index(fields=["library", "status", "-created_at", "-id"], name="image_status"),
            models.Index(fields=["library", "tag1"], name="image_tag1"),
            models.Index(fields=["library", "tag2"], name="image_tag2"),
            models.Index(fields=["library", "class_id1"], name="image_class_id1"),
            models.Index(fields=["library", "class_id2"], name="image_class_id2"),
            models.Index(fields=["library", "sha256"], name="image_sha256"),
            models.Index(fields=["library", "brief"], name="image_brief"),
            models.Index(fields=["status", "status_changed_at"], name="image_sweep"),
            # The sweeper's other questions, about the few rows that have an answer.
            models.Index(
                fields=["lease_until"], condition=Q(lease_until__isnull=False), name="image_lease"
            ),
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(next_attempt_at__isnull=False),
                name="image_next_attempt",
            ),
        ]

    def __str__(self) -> str:
        return self.brief

    @property
    def tags(self) -> list[int]:
        return [t for t in (self.tag1, self.tag2) if t is not None]

    @property
    def waiting(self) -> bool:
        """The add ran out of retries against a backend that did not answer; it will try again."""
        return self.status == ImageStatus.PENDING and self.waits > 0

    @property
    def status_label(self) -> str:
        return str(_("Waiting for the backend")) if self.waiting else self.get_status_display()


def _int32(field: str) -> Q:
    return Q(**{f"{field}__isnull": True}) | (
        Q(**{f"{field}__gte": -(2**31)}) & Q(**{f"{field}__lte": 2**31 - 1})
    )


INT_ATTR_FIELDS = ("int_attr1", "int_attr2", "int_attr3", "int_attr4")
STR_ATTR_FIELDS = ("str_attr1", "str_attr2", "str_attr3", "str_attr4")


class Picture(models.Model):
    """The Alibaba part of an image row (aliyun-wire §4.2). The pair (`product_id`, `pic_name`)
    is the picture's identity on the wire; the row's `cont_sign` is its digest
    (`wire.aliyun.picture_ref`), so the one-live-row-per-ref rule holds the pair unique, and the
    row's `brief` is a copy of the PicName, the caption every listing shows."""

    image = models.OneToOneField(
        Image, on_delete=models.CASCADE, primary_key=True, related_name="picture"
    )
    product_id = models.CharField(_("product id"), max_length=MAX_ID)
    pic_name = models.CharField(_("picture name"), max_length=MAX_ID)
    # As the user gave it; None: the backend predicts one (product instances) and the answer
    # lands in `category_used`.
    category_id = models.IntegerField(_("category"), null=True, blank=True)
    category_used = models.IntegerField(null=True, blank=True)
    int_attr1 = models.IntegerField(null=True, blank=True)
    int_attr2 = models.IntegerField(null=True, blank=True)
    int_attr3 = models.IntegerField(null=True, blank=True)
    int_attr4 = models.IntegerField(null=True, blank=True)
    str_attr1 = models.CharField(max_length=MAX_STR_ATTR, blank=True)
    str_attr2 = models.CharField(max_length=MAX_STR_ATTR, blank=True)
    str_attr3 = models.CharField(max_length=MAX_STR_ATTR, blank=True)
    str_attr4 = models.CharField(max_length=MAX_STR_ATTR, blank=True)
    custom_content = models.TextField(
        _("custom content"), max_length=MAX_CUSTOM_CONTENT, blank=True
    )
    # The subject box the backend stored the picture with, "x1,x2,y1,y2" in its pixels.
    region = models.CharField(max_length=64, blank=True)

    class Meta:
        indexes = [models.Index(fields=["product_id"], name="picture_product")]
        constraints = [
            *(
                models.CheckConstraint(condition=_int32(f), name=f"picture_{f}_range")
                for f in INT_ATTR_FIELDS
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product_id}/{self.pic_name}"

    @property
    def int_attrs(self) -> tuple[int | None, int | None, int | None, int | None]:
        return (self.int_attr1, self.int_attr2, self.int_attr3, self.int_attr4)

    @property
    def str_attrs(self) -> tuple[str, str, str, str]:
        return (self.str_attr1, self.str_attr2, self.str_attr3, self.str_attr4)


class ActivityVerb(models.TextChoices):
    """Every action the activity log records, with the words a page shows for it."""

    APPLICATION_CREATE = "application.create", _("created the application")
    APPLICATION_UPDATE = "application.update", _("changed the services or the QPS limit")
    APPLICATION_REVEAL_SECRET = "application.reveal_secret", _("revealed the Secret Key")
    APPLICATION_ROTATE_SECRET = "application.rotate_secret", _("rotated the Secret Key")
    APPLICATION_RENAME = "application.rename", _("renamed the application")
    APPLICATION_KEYS = "application.keys", _("changed the keys")
    APPLICATION_DELETE = "application.delete", _("deleted the application")
    MEMBER_SET = "member.set", _("set a member's role")
    MEMBER_REMOVE = "member.remove", _("removed a member")
    LIBRARY_CREATE = "library.create", _("created the library")
    LIBRARY_REGISTER = "library.register", _("registered the library")
    LIBRARY_CAPACITY = "library.capacity", _("changed the capacity")
    LIBRARY_THRESHOLD = "library.threshold", _("changed the “already here?” threshold")
    LIBRARY_SEARCH = "library.search", _("searched")
    LIBRARY_REPUSH = "library.repush", _("pushed the library again")
    LIBRARY_COPY = "library.copy", _("copied a library into this one")
    LIBRARY_CLEAR = "library.clear", _("cleared the library")
    LIBRARY_RENAME = "library.rename", _("renamed the library")
    LIBRARY_DELETE = "library.delete", _("deleted the library")
    IMAGE_UPLOAD = "image.upload", _("uploaded")
    IMAGE_EDIT = "image.edit", _("edited")
    IMAGE_DELETE = "image.delete", _("deleted")
    IMAGE_REPUSH = "image.repush", _("pushed again")
    IMAGE_GONE = "image.gone", _("found the image gone from the backend (deleted elsewhere)")
    IMAGE_API_ADD = "image.api_add", _("found an image added through the API")
    IMAGE_EDIT_REFUSED = "image.edit_refused", _("saw the backend refuse an edit")
    LIBRARY_MIRROR = "library.mirror", _("took in changes made through the API")
    BATCH_CREATE = "batch.create", _("started a batch upload")
    BATCH_CANCEL = "batch.cancel", _("cancelled a job")
    BATCH_RETRY = "batch.retry", _("retried a job's failed images")
    ACCOUNT_CREATE = "account.create", _("created an account")
    ACCOUNT_LINK = "account.link", _("issued a set-password link")
    ACCOUNT_PASSWORD_SET = "account.password_set", _("set their password with a link")
    ACCOUNT_DEACTIVATE = "account.deactivate", _("deactivated an account")
    ACCOUNT_REACTIVATE = "account.reactivate", _("reactivated an account")
    TESTSET_CREATE = "testset.create", _("created a test set")
    TESTSET_EDIT = "testset.edit", _("changed a test set's queries")
    TESTSET_DELETE = "testset.delete", _("deleted a test set")
    TESTSET_IMPORT = "testset.import", _("imported a test set")
    TESTRUN_START = "testrun.start", _("ran a test set")


class Activity(models.Model):
    """Who did what to which object, when. Written by services, never by signals."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    application = models.ForeignKey(
        Application, null=True, blank=True, on_delete=models.CASCADE, related_name="activities"
    )
    verb = models.CharField(max_length=40, choices=ActivityVerb.choices)
    object_type = models.CharField(max_length=20)
    object_id = models.BigIntegerField(null=True)
    object_repr = models.CharField(max_length=300)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "activities"
        indexes = [
            models.Index(fields=["application", "-created_at"], name="activity_app"),
            # An image's history, and the edits of an image an update task settles.
            models.Index(fields=["object_type", "object_id"], name="activity_object"),
        ]

    def __str__(self) -> str:
        return f"{self.actor} {self.verb} {self.object_repr}"


class ApiCall(models.Model):
    """One call Tuku made to a backend: the source of the usage and error charts."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="calls")
    # A Baidu service or an Alibaba instance; a Baidu operation or an Alibaba action.
    service = models.CharField(max_length=32)
    operation = models.CharField(max_length=32)
    error_code = models.CharField(max_length=32, blank=True)
    error_msg = models.CharField(max_length=255, blank=True)
    latency_ms = models.FloatField()
    log_id = models.BigIntegerField(null=True)
    # The client answered this one by sending the operation again (a QPS limit backed off
    # from, a stale token renewed): an exchange, not the operation's outcome.
    retried = models.BooleanField(default=False)
    # QPS-limit answers the operation had before this exchange: a success with some is an
    # operation that got through after backing off.
    qps_retries = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["application", "created_at"], name="apicall_app_time")]

    def __str__(self) -> str:
        return f"{self.service}/{self.operation} {self.error_code or 'ok'}"


# --- the search test bench (docs/console.md, "Search test bench") ----------------------------


class TestSet(models.Model):
    """A named set of query images of a library, each with the answer it expects."""

    __test__ = False  # not a pytest class

    library = models.ForeignKey(Library, on_delete=models.CASCADE, related_name="test_sets")
    name = models.CharField(_("name"), max_length=100)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["library_id", "name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["library", "name"], name="testset_name_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class Expected(models.TextChoices):
    FIRST = "first", _("This stored image first")
    ANY = "any", _("One of these images first")
    NOTHING = "nothing", _("Nothing")


def query_path(query: TestQuery, filename: str) -> str:
    suffix = {"JPEG": ".jpg", "PNG": ".png", "BMP": ".bmp"}.get(query.format, "")
    return f"testsets/{query.test_set_id}/{uuid.uuid4().hex}{suffix}"


class TestQuery(models.Model):
    """One query image of a set (stored like an original), what it was made from (a stored
    image and a transform with its seed, or an upload), and the answer it expects: its
    expected images first (`first`: exactly one; `any`: one of them), or no hit (`nothing`)."""

    __test__ = False

    test_set = models.ForeignKey(TestSet, on_delete=models.CASCADE, related_name="queries")
    file = models.FileField(upload_to=query_path, max_length=255)
    sha256 = models.CharField(max_length=64)
    format = models.CharField(max_length=8)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    bytes = models.PositiveIntegerField()
    name = models.CharField(_("name"), max_length=255)
    source_image = models.ForeignKey(
        Image, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A name of gallery.transforms.TRANSFORMS; empty for an uploaded query.
    transform = models.CharField(max_length=40, blank=True)
    seed = models.IntegerField(null=True, blank=True)
    expected = models.CharField(max_length=8, choices=Expected.choices)
    expected_images = models.ManyToManyField(Image, blank=True, related_name="+")
    # The expected images' content hashes, so that a run against another library (a copy of
    # this one) recognises them by their bytes.
    expected_sha256 = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["test_set_id", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expected__in=["first", "any", "nothing"]), name="testquery_expected"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class TestRun(TaskState):
    """One run of a set against a library, kept with what it ran on: the backend, the library's
    size and the engine's features version, so that runs can be compared over time."""

    __test__ = False

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    test_set = models.ForeignKey(TestSet, on_delete=models.CASCADE, related_name="runs")
    library = models.ForeignKey(Library, on_delete=models.CASCADE, related_name="test_runs")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.RUNNING)
    backend = models.CharField(max_length=16)
    library_size = models.PositiveIntegerField(null=True, blank=True)
    features_version = models.CharField(max_length=64, blank=True)
    total = models.PositiveIntegerField(default=0)
    # How many hits each query asks for (the console's search asks 50).
    rn = models.PositiveSmallIntegerField(default=50)
    message = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    RECOVERED: ClassVar[dict[str, Any]] = {**TaskState.RECOVERED, "message": ""}

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["running", "done", "failed"]), name="testrun_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.test_set} #{self.pk}"

    @property
    def running(self) -> bool:
        return self.status == self.Status.RUNNING


class TestResult(models.Model):
    """What the backend answered one query of a run: the rank of the first expected image
    (1-based; None: not among the hits), the scores, the first hits, latency, the wire error."""

    __test__ = False

    run = models.ForeignKey(TestRun, on_delete=models.CASCADE, related_name="results")
    query = models.ForeignKey(TestQuery, on_delete=models.CASCADE, related_name="results")
    rank = models.PositiveIntegerField(null=True, blank=True)
    hits = models.PositiveIntegerField(default=0)
    top_score = models.FloatField(null=True, blank=True)
    expected_score = models.FloatField(null=True, blank=True)
    passed = models.BooleanField(default=False)
    # The first hits: [{"ref", "score", "brief", "image": our row's id or None}].
    returned = models.JSONField(default=list, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    error_code = models.CharField(max_length=32, blank=True)
    error_msg = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run_id", "query_id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "query"], name="testresult_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.run} / {self.query}"
