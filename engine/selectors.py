"""Reads for the console: library counts, the entries of a built-in library whoever added them,
and their thumbnails (the engine keeps no originals). Writes are in engine/services.py.

The engine_* readers answer plain values, never model rows. The library readers raise
EngineNotFoundError for an application or library that does not exist; the entry readers
answer empty or None.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import EngineNotFoundError
from engine.models import EngineApp, EngineChange, EngineEntry, EngineLibrary

# -- lookups (engine/services.py uses them too) ----------------------------------------------


def get_app(app_id: str) -> EngineApp:
    """The application's row, or EngineNotFoundError. For the engine's own modules."""
    app = EngineApp.objects.filter(app_id=app_id).first()
    if app is None:
        raise EngineNotFoundError(f"no engine application {app_id}")
    return app


def get_library(app_id: str, service: str) -> EngineLibrary:
    """The library's row, or EngineNotFoundError. For the engine's own modules."""
    library = EngineLibrary.objects.filter(app__app_id=app_id, service=service).first()
    if library is None:
        raise EngineNotFoundError(f"application {app_id} has no {service} library")
    return library


# -- libraries -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LibraryStats:
    count: int
    capacity: int
    seq: int  # the library's last change number


def engine_library_stats(*, app_id: str, service: str) -> LibraryStats:
    library = get_library(app_id, service)
    return LibraryStats(count=library.entry_count, capacity=library.capacity, seq=library.seq)


@dataclass(frozen=True)
class EntryInfo:
    """One stored image as the console mirrors it, with the engine's JPEG thumbnail."""

    seq: int
    cont_sign: str
    brief: str
    tags: tuple[int, ...]
    class_id1: int | None
    class_id2: int | None
    sha256: str
    width: int
    height: int
    byte_size: int
    format: str
    thumbnail: bytes


@dataclass(frozen=True)
class EntriesSince:
    seq: int  # the change number to ask from next time
    entries: list[EntryInfo]
    removed: bool  # a delete or clear happened after `after_seq`


def engine_library_entries_since(
    *, app_id: str, service: str, after_seq: int, limit: int = 500
) -> EntriesSince:
    """Entries added after change `after_seq` (read-only; cheap when nothing changed).

    A library recreated since (its sequence is behind `after_seq`) is read from the start.
    """
    library = get_library(app_id, service)
    if library.seq == after_seq:
        return EntriesSince(seq=after_seq, entries=[], removed=False)
    if after_seq > library.seq:
        after_seq = 0
    rows = list(
        EngineEntry.objects.filter(library=library, seq__gt=after_seq)
        .select_related("blob")
        .defer("vectors", "blob__local")
        .order_by("seq")[:limit]
    )
    entries = [
        EntryInfo(
            seq=row.seq,
            cont_sign=row.cont_sign,
            brief=row.brief,
            tags=row.tags,
            class_id1=row.class_id1,
            class_id2=row.class_id2,
            sha256=row.sha256,
            width=row.width,
            height=row.height,
            byte_size=row.byte_size,
            format=row.format,
            thumbnail=bytes(row.blob.thumbnail) if hasattr(row, "blob") else b"",
        )
        for row in rows
    ]
    removed = EngineChange.objects.filter(
        library=library, seq__gt=after_seq, op__in=[EngineChange.DELETE, EngineChange.CLEAR]
    ).exists()
    seq = entries[-1].seq if len(rows) == limit else library.seq
    return EntriesSince(seq=seq, entries=entries, removed=removed)


def engine_library_cont_signs(*, app_id: str, service: str) -> set[str]:
    """Every cont_sign the library holds now."""
    library = get_library(app_id, service)
    return set(EngineEntry.objects.filter(library=library).values_list("cont_sign", flat=True))
