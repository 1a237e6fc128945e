"""The engine's store: applications, tokens, libraries, entries and the change log.

The database is the source of truth. Every in-memory index (engine/index.py) is derived from
these tables and catches up through `EngineChange`, a gap-free sequence per library.
"""

from __future__ import annotations

import uuid

from django.db import models

from console.fields import EncryptedTextField
from wire.baidu import SERVICES

SERVICE_CHOICES = [(s, s) for s in SERVICES]
DEFAULT_CAPACITY = 500_000
# An engine application is limited only by the machine it runs on unless its operator sets a
# limit: Baidu's default of 10 is a billing tier, not a capacity (bench/ingest.py).
DEFAULT_QPS = 0


class EngineApp(models.Model):
    """An application: the credentials SDKs use, the services it may call and its QPS."""

    app_id = models.CharField(max_length=8, unique=True)
    name = models.CharField(max_length=200)
    api_key = models.CharField(max_length=64, unique=True)
    secret_key = EncryptedTextField()
    services = models.JSONField(default=list)
    qps = models.PositiveIntegerField(default=DEFAULT_QPS, help_text="0 = unlimited")
    # Token responses omit brain_all_scope, so the official SDK switches to signing
    # (baidu-wire §4.1).
    signing_only = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.app_id})"


class EngineToken(models.Model):
    """An issued access token; only its SHA-256 is kept, so a database leak reveals none."""

    app = models.ForeignKey(EngineApp, on_delete=models.CASCADE, related_name="tokens")
    digest = models.CharField(max_length=64, unique=True)
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"token {self.digest[:8]}... of {self.app_id}"


class EngineLibrary(models.Model):
    """One library per (application, service). `seq` is the last change-log number.

    An Alibaba instance's library (AliyunInstance) has no application: the Baidu wire looks
    libraries up by (application, service) and must never find one (aliyun-wire §4.1).
    """

    app = models.ForeignKey(
        EngineApp, on_delete=models.CASCADE, related_name="libraries", null=True, blank=True
    )
    service = models.CharField(max_length=16, choices=SERVICE_CHOICES)
    capacity = models.PositiveIntegerField(default=DEFAULT_CAPACITY)
    entry_count = models.PositiveIntegerField(default=0)
    seq = models.BigIntegerField(default=0)
    # Identifies this incarnation, so a cached index or snapshot of a deleted library whose
    # primary key was reused is never mistaken for the new one.
    uid = models.UUIDField(default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["app", "service"], name="engine_library_app_service")
        ]

    def __str__(self) -> str:
        owner = self.app.app_id if self.app is not None else "aliyun"
        return f"{owner}/{self.service}"


class EngineEntry(models.Model):
    """One stored image: its identity, labels and feature vectors (no image bytes)."""

    library = models.ForeignKey(EngineLibrary, on_delete=models.CASCADE, related_name="entries")
    cont_sign = models.CharField(max_length=21)
    brief = models.TextField()
    tag1 = models.PositiveIntegerField(null=True, blank=True)
    tag2 = models.PositiveIntegerField(null=True, blank=True)
    class_id1 = models.PositiveIntegerField(null=True, blank=True)
    class_id2 = models.PositiveIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    byte_size = models.PositiveIntegerField()
    format = models.CharField(max_length=8)
    # (k, D) array of engine.vectors.STORED, row 0 the global vector.
    vectors = models.BinaryField()
    features_version = models.CharField(max_length=40)
    seq = models.BigIntegerField(help_text="library sequence number of the add")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["library", "cont_sign"], name="engine_entry_library_cont_sign"
            )
        ]

    def __str__(self) -> str:
        return self.cont_sign

    @property
    def tags(self) -> tuple[int, ...]:
        return tuple(t for t in (self.tag1, self.tag2) if t is not None)


class EngineEntryBlob(models.Model):
    """Bulky per-entry data kept out of the entries table so index rebuilds scan less."""

    entry = models.OneToOneField(
        EngineEntry, on_delete=models.CASCADE, primary_key=True, related_name="blob"
    )
    local = models.BinaryField(null=True)  # verification keypoints (same_hq, picturebook)
    thumbnail = models.BinaryField()  # JPEG, longest side <= 320 px, for the console

    def __str__(self) -> str:
        return f"data of entry {self.pk}"


class EngineChange(models.Model):
    """Change log: `seq` runs 1, 2, 3... per library without gaps, in commit order."""

    ADD, UPDATE, DELETE, CLEAR = 1, 2, 3, 4
    OPS = [(ADD, "add"), (UPDATE, "update"), (DELETE, "delete"), (CLEAR, "clear")]

    library = models.ForeignKey(EngineLibrary, on_delete=models.CASCADE, related_name="changes")
    seq = models.BigIntegerField()
    op = models.PositiveSmallIntegerField(choices=OPS)
    entry_id = models.BigIntegerField(null=True)  # no FK: the entry may be gone
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["library", "seq"], name="engine_change_library_seq")
        ]

    def __str__(self) -> str:
        return f"{self.library_id}#{self.seq} {self.get_op_display()} {self.entry_id}"


class AliyunInstance(models.Model):
    """An Alibaba Image Search instance (aliyun-wire §4.1), addressed by its name.

    `owner` is the AccessKey pair that may call it: an EngineApp, whose API Key and Secret Key
    are the AccessKey ID and Secret. Capacity and images live in its own `library`.
    """

    owner = models.ForeignKey(EngineApp, on_delete=models.CASCADE, related_name="aliyun_instances")
    name = models.CharField(max_length=20)
    service_type = models.PositiveSmallIntegerField()
    qps = models.PositiveSmallIntegerField(default=10)
    library = models.OneToOneField(
        EngineLibrary, on_delete=models.PROTECT, related_name="aliyun_instance"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="engine_aliyun_owner_name")
        ]

    def __str__(self) -> str:
        return self.name


class AliyunImage(models.Model):
    """What Alibaba's wire keeps per picture beside the entry's vectors (aliyun-wire §4.2).

    An empty string is an absent attribute: the wire cannot send an empty value either.
    """

    instance = models.ForeignKey(AliyunInstance, on_delete=models.CASCADE, related_name="images")
    entry = models.OneToOneField(EngineEntry, on_delete=models.CASCADE, related_name="aliyun_image")
    product_id = models.CharField(max_length=256)
    pic_name = models.CharField(max_length=256)
    category_id = models.IntegerField()
    int_attr = models.IntegerField(null=True, blank=True)
    int_attr2 = models.IntegerField(null=True, blank=True)
    int_attr3 = models.IntegerField(null=True, blank=True)
    int_attr4 = models.IntegerField(null=True, blank=True)
    str_attr = models.CharField(max_length=128, blank=True)
    str_attr2 = models.CharField(max_length=128, blank=True)
    str_attr3 = models.CharField(max_length=128, blank=True)
    str_attr4 = models.CharField(max_length=128, blank=True)
    custom_content = models.TextField(blank=True)
    region = models.CharField(max_length=64, blank=True)
    # Indexed here, not on the entry: a search looks up identical bytes in one instance.
    sha256 = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["instance", "product_id", "pic_name"], name="engine_aliyun_image_identity"
            ),
        ]
        indexes = [models.Index(fields=["instance", "sha256"], name="engine_aliyun_image_sha256")]

    def __str__(self) -> str:
        return f"{self.product_id}/{self.pic_name}"
