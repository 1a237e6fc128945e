"""Reads for the console: the entries of a built-in library, whoever added them, and their
thumbnails (the engine keeps no originals)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from engine.models import EngineEntry, EngineEntryBlob


@dataclass(frozen=True)
class EngineEntryInfo:
    id: int  # increasing in add order; use as a keyset cursor
    cont_sign: str
    brief: str
    tags: tuple[int, ...]
    class_id1: int | None
    class_id2: int | None
    width: int
    height: int
    byte_size: int
    format: str
    sha256: str
    created_at: datetime
    updated_at: datetime


_FIELDS = (
    "id",
    "cont_sign",
    "brief",
    "tag1",
    "tag2",
    "class_id1",
    "class_id2",
    "width",
    "height",
    "byte_size",
    "format",
    "sha256",
    "created_at",
    "updated_at",
)


def _info(row: dict) -> EngineEntryInfo:
    tags = tuple(t for t in (row.pop("tag1"), row.pop("tag2")) if t is not None)
    return EngineEntryInfo(tags=tags, **row)


def engine_entries_list(
    *, app_id: str, service: str, after_id: int = 0, limit: int = 100
) -> list[EngineEntryInfo]:
    """Entries in add order with id > after_id (keyset paging; no vectors are loaded)."""
    rows = (
        EngineEntry.objects.filter(
            library__app__app_id=app_id, library__service=service, id__gt=after_id
        )
        .order_by("id")
        .values(*_FIELDS)[:limit]
    )
    return [_info(row) for row in rows]


def engine_entry_get(*, app_id: str, service: str, cont_sign: str) -> EngineEntryInfo | None:
    row = (
        EngineEntry.objects.filter(
            library__app__app_id=app_id, library__service=service, cont_sign=cont_sign
        )
        .values(*_FIELDS)
        .first()
    )
    return None if row is None else _info(row)


def engine_entry_thumbnail(*, app_id: str, service: str, cont_sign: str) -> bytes | None:
    """JPEG, longest side <= 320 px, or None if the entry does not exist."""
    blob = (
        EngineEntryBlob.objects.filter(
            entry__library__app__app_id=app_id,
            entry__library__service=service,
            entry__cont_sign=cont_sign,
        )
        .values_list("thumbnail", flat=True)
        .first()
    )
    return None if blob is None else bytes(blob)
