"""Writes of the Alibaba wire over the engine's store (engine/store.py): one picture is one
entry plus its AliyunImage row, written in one transaction (aliyun-wire §4.2)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import QuerySet

from engine import store
from engine.aliyun.errors import AliyunError
from engine.errors import WireError
from engine.features.decode import Decoded
from engine.features.extract import Features
from engine.models import AliyunImage, AliyunInstance, EngineLibrary
from wire.aliyun import CATEGORIES, picture_ref

# Entries of one delete: engine.store.entries_delete is sized for the Baidu batch.
DELETE_CHUNK = 100
# The Baidu store's refusals, met here under other names.
_LIBRARY_FULL = 19
_NOT_IN_LIBRARY = 216680
_CATEGORY_LABELS = {category: n + 1 for n, category in enumerate(sorted(CATEGORIES))}


def category_label(category_id: int) -> int:
    """The index's 16-bit class label of a category (88888888 does not fit in one)."""
    return _CATEGORY_LABELS[category_id]


@dataclass(frozen=True)
class Picture:
    product_id: str
    pic_name: str
    category_id: int
    int_attrs: tuple[int | None, int | None, int | None, int | None]
    str_attrs: tuple[str | None, str | None, str | None, str | None]
    custom_content: str | None
    region: str


def picture_put(
    *, instance: AliyunInstance, picture: Picture, data: bytes, image: Decoded, features: Features
) -> None:
    """Add a picture, replacing the one stored under the same (ProductId, PicName)."""
    sign = picture_ref(picture.product_id, picture.pic_name)
    with transaction.atomic():
        # Locked first, so concurrent adds of one pair cannot both find it absent.
        library = EngineLibrary.objects.select_for_update().get(pk=instance.library_id)
        if AliyunImage.objects.filter(instance=instance, entry__cont_sign=sign).exists():
            store.entries_delete(library=library, cont_signs=[sign])
        try:
            entry = store.entry_add(
                library=library,
                data=data,
                image=image,
                features=features,
                brief="",
                labels=store.Labels(class_id1=category_label(picture.category_id)),
                cont_sign=sign,
            )
        except WireError as error:
            if error.code == _LIBRARY_FULL:
                raise AliyunError("InstanceOverQuota") from None
            raise
        i1, i2, i3, i4 = picture.int_attrs
        s1, s2, s3, s4 = picture.str_attrs
        AliyunImage.objects.create(
            instance=instance,
            entry=entry,
            product_id=picture.product_id,
            pic_name=picture.pic_name,
            category_id=picture.category_id,
            int_attr=i1,
            int_attr2=i2,
            int_attr3=i3,
            int_attr4=i4,
            str_attr=s1 or "",
            str_attr2=s2 or "",
            str_attr3=s3 or "",
            str_attr4=s4 or "",
            custom_content=picture.custom_content or "",
            region=picture.region,
            sha256=entry.sha256,
        )


def pictures_delete(*, instance: AliyunInstance, rows: QuerySet[AliyunImage]) -> list[str]:
    """Delete the pictures of `rows` in this instance; the PicNames deleted."""
    targets = list(rows.filter(instance=instance).values_list("pic_name", "entry__cont_sign"))
    library = EngineLibrary.objects.get(pk=instance.library_id)
    for start in range(0, len(targets), DELETE_CHUNK):
        signs = [sign for _, sign in targets[start : start + DELETE_CHUNK]]
        try:
            store.entries_delete(library=library, cont_signs=signs)
        except WireError as error:
            if error.code != _NOT_IN_LIBRARY:  # deleted meanwhile by another call
                raise
    return [name for name, _ in targets]


def pictures_update(
    *, instance: AliyunInstance, product_id: str, pic_name: str | None, changes: dict[str, object]
) -> int:
    """Set `changes` (AliyunImage fields) on the product's pictures in this instance, the one
    named `pic_name` when given; how many there are (0: nothing changed).

    Every changed picture's entry gets an update record in the library's change log, as a
    Baidu update does, so whoever follows the log sees it. The index needs nothing else: it
    holds only the category label, which no update changes, and attribute filters are
    evaluated by the database (aliyun-wire §5.3).
    """
    with transaction.atomic():
        # Locked first, like picture_put: an add replacing one of these pictures waits.
        library = EngineLibrary.objects.select_for_update().get(pk=instance.library_id)
        rows = AliyunImage.objects.filter(instance=instance, product_id=product_id)
        if pic_name is not None:
            rows = rows.filter(pic_name=pic_name)
        targets = list(rows.values_list("pk", "category_id", "entry__cont_sign"))
        if not targets or not changes:
            return len(targets)
        AliyunImage.objects.filter(pk__in=[pk for pk, _, _ in targets]).update(**changes)
        for _, category_id, sign in targets:
            # Restating the entry's unchanged label is engine.store's way to log an update.
            store.entry_update(
                library=library,
                cont_sign=sign,
                brief=None,
                labels=store.Labels(class_id1=category_label(category_id)),
            )
    return len(targets)
