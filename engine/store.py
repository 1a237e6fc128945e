"""Writes to the store. Each write and its change-log record commit together, before the
call is answered, so a crash after the answer loses nothing (the index is rebuilt from here).

Writes to one library are serialised by locking its row (SQLite: the IMMEDIATE transaction
already holds the database write lock), which keeps `seq` gap-free and in commit order.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import cv2
import numpy as np
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from PIL import Image

from engine.errors import WireError
from engine.features.decode import Decoded
from engine.features.extract import FEATURES_VERSION, VECTOR_DIM, Features
from engine.models import EngineChange, EngineEntry, EngineEntryBlob, EngineLibrary
from engine.vectors import STORED

THUMBNAIL_SIDE = 320
KEEP_CHANGES = 100_000  # change-log records kept per library; older ones are pruned
PRUNE_EVERY = 1024


@dataclass(frozen=True)
class Labels:
    """Classification fields of one call; None = not sent (left unchanged on update)."""

    tags: tuple[int, ...] | None = None
    class_id1: int | None = None
    class_id2: int | None = None


def thumbnail(rgb: np.ndarray) -> bytes:
    height, width = rgb.shape[:2]
    scale = THUMBNAIL_SIDE / max(height, width)
    if scale < 1:
        # Halved with a Gaussian while twice the side or more, then bilinear: every add pays
        # for it, and it is 37 dB from area averaging (the same picture at 320 px) for a third
        # of its CPU (1.7 → 0.6 ms from 1024 px).
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        while max(rgb.shape[:2]) >= 2 * THUMBNAIL_SIDE:
            rgb = cv2.pyrDown(rgb)
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR)
    image = Image.fromarray(rgb)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=80, optimize=True)
    return out.getvalue()


def _locked(library_id: int) -> EngineLibrary:
    library = EngineLibrary.objects.select_for_update().filter(pk=library_id).first()
    if library is None:
        raise WireError(216017)  # deleted since the request looked it up
    return library


def _record(
    library: EngineLibrary, op: int, entry_ids: list[int | None], count_delta: int = 0
) -> None:
    """Append change-log records (one per entry) and advance the library's sequence number."""
    first = library.seq + 1
    EngineChange.objects.bulk_create(
        EngineChange(library=library, seq=first + i, op=op, entry_id=entry_id)
        for i, entry_id in enumerate(entry_ids)
    )
    last = first + len(entry_ids) - 1
    EngineLibrary.objects.filter(pk=library.pk).update(
        seq=last, entry_count=F("entry_count") + count_delta
    )
    library.seq = last
    library.entry_count += count_delta
    if last // PRUNE_EVERY != (first - 1) // PRUNE_EVERY:
        EngineChange.objects.filter(library=library, seq__lte=last - KEEP_CHANGES).delete()


def entry_add(
    *,
    library: EngineLibrary,
    data: bytes,
    image: Decoded,
    features: Features,
    brief: str,
    labels: Labels,
    cont_sign: str,
) -> EngineEntry:
    """Store one image; 216681 if the same cont_sign is there, 19 if the library is full."""
    vectors = np.asarray(features.vectors).astype(STORED, copy=False)
    if vectors.ndim != 2 or vectors.shape[1] != VECTOR_DIM:
        raise ValueError(f"features have shape {vectors.shape}, expected (k, {VECTOR_DIM})")
    thumb = thumbnail(image.rgb)  # outside the transaction: it holds the write lock
    tags = labels.tags or ()
    fields = {
        "cont_sign": cont_sign,
        "brief": brief,
        "tag1": tags[0] if tags else None,
        "tag2": tags[1] if len(tags) > 1 else None,
        "class_id1": labels.class_id1,
        "class_id2": labels.class_id2,
        "sha256": hashlib.sha256(data).hexdigest(),
        "width": image.width,
        "height": image.height,
        "byte_size": len(data),
        "format": image.format,
        "vectors": vectors.tobytes(),
        "features_version": FEATURES_VERSION,
    }
    try:
        with transaction.atomic():
            locked = _locked(library.pk)
            if locked.entry_count >= locked.capacity:
                _replace_older(locked, cont_sign)  # 216681 comes before 19 (baidu-wire §3)
                if locked.entry_count >= locked.capacity:
                    raise WireError(19)
            try:
                # Inserted first, looked up only if the cont_sign is there already: the common
                # add saves a query, and the unique constraint decides.
                with transaction.atomic():
                    entry = EngineEntry.objects.create(library=locked, seq=locked.seq + 1, **fields)
            except IntegrityError:
                _replace_older(locked, cont_sign)
                if locked.entry_count >= locked.capacity:
                    raise WireError(19) from None
                entry = EngineEntry.objects.create(library=locked, seq=locked.seq + 1, **fields)
            EngineEntryBlob.objects.create(entry=entry, local=features.local, thumbnail=thumb)
            _record(locked, EngineChange.ADD, [entry.pk], count_delta=1)
    except IntegrityError:
        # Only reachable if two adds of one image race on a database without row locks.
        raise WireError(216681) from None
    return entry


def _replace_older(locked: EngineLibrary, cont_sign: str) -> None:
    """216681 if the library holds `cont_sign` under this features version. Stored by an
    older version, it is not searchable any more, so adding the same file again replaces it
    (the console's re-push repairs a library)."""
    existing = (
        EngineEntry.objects.filter(library=locked, cont_sign=cont_sign)
        .values_list("id", "features_version")
        .first()
    )
    if existing is None:
        return
    if existing[1] == FEATURES_VERSION:
        raise WireError(216681)
    EngineEntryBlob.objects.filter(entry_id=existing[0]).delete()
    EngineEntry.objects.filter(id=existing[0]).only("id").delete()
    _record(locked, EngineChange.DELETE, [existing[0]], count_delta=-1)


def entry_update(
    *, library: EngineLibrary, cont_sign: str, brief: str | None, labels: Labels
) -> None:
    """Replace the fields that were sent; 216680 if the image is not in the library."""
    fields: dict[str, object] = {}
    if brief is not None:
        fields["brief"] = brief
    if labels.tags is not None:
        fields["tag1"] = labels.tags[0]
        fields["tag2"] = labels.tags[1] if len(labels.tags) > 1 else None
    if labels.class_id1 is not None:
        fields["class_id1"] = labels.class_id1
    if labels.class_id2 is not None:
        fields["class_id2"] = labels.class_id2
    with transaction.atomic():
        locked = _locked(library.pk)
        entry_id = (
            EngineEntry.objects.filter(library=locked, cont_sign=cont_sign)
            .values_list("id", flat=True)
            .first()
        )
        if entry_id is None:
            raise WireError(216680)
        if not fields:
            return  # nothing to change: a successful no-op (baidu-wire §6.3)
        EngineEntry.objects.filter(pk=entry_id).update(**fields)
        _record(locked, EngineChange.UPDATE, [entry_id])


def entries_delete(*, library: EngineLibrary, cont_signs: list[str]) -> int:
    """Remove the targets that exist; 216680 if none does. Returns how many were removed."""
    with transaction.atomic():
        locked = _locked(library.pk)
        ids = list(
            EngineEntry.objects.filter(library=locked, cont_sign__in=cont_signs).values_list(
                "id", flat=True
            )
        )
        if not ids:
            raise WireError(216680)
        # At most 100 rows: the ORM is fine here, as long as it loads no vectors.
        EngineEntryBlob.objects.filter(entry_id__in=ids).delete()
        EngineEntry.objects.filter(id__in=ids).only("id").delete()
        _record(locked, EngineChange.DELETE, list(ids), count_delta=-len(ids))
    return len(ids)


_BLOBS_OF_LIBRARY = (
    "DELETE FROM {blob} WHERE entry_id IN (SELECT id FROM {entry} WHERE library_id = %s)"
)


def library_clear(library_id: int) -> int:
    """Remove every entry of a library (console "clear library"). Returns the count."""
    with transaction.atomic():
        locked = _locked(library_id)
        count = locked.entry_count
        _execute(_BLOBS_OF_LIBRARY, [library_id])
        _execute("DELETE FROM {entry} WHERE library_id = %s", [library_id])
        # Every index replaying past this record rebuilds (empty) instead of replaying.
        _record(locked, EngineChange.CLEAR, [None], count_delta=-count)
    return count


def library_purge(library_id: int) -> None:
    """Delete a library with its entries and log, without loading the rows into Python."""
    with transaction.atomic():
        _execute(_BLOBS_OF_LIBRARY, [library_id])
        _execute("DELETE FROM {entry} WHERE library_id = %s", [library_id])
        _execute("DELETE FROM {change} WHERE library_id = %s", [library_id])
        _execute("DELETE FROM {library} WHERE id = %s", [library_id])


def _execute(template: str, params: list[int]) -> None:
    """Raw DELETEs: the ORM's cascade would first load every row, vectors included.

    Only our own table names are filled into `template`; values travel as parameters.
    """
    sql = template.format(
        blob=EngineEntryBlob._meta.db_table,
        entry=EngineEntry._meta.db_table,
        change=EngineChange._meta.db_table,
        library=EngineLibrary._meta.db_table,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
