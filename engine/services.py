"""Administration of built-in applications and libraries, called in-process by the console.

Everything else (add, search, update, delete) goes through the wire like any SDK would.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from engine import index, store
from engine.models import (
    DEFAULT_CAPACITY,
    DEFAULT_QPS,
    SERVICES,
    EngineApp,
    EngineChange,
    EngineEntry,
    EngineLibrary,
)

ALNUM = string.ascii_letters + string.digits


class EngineNotFoundError(LookupError):
    """No such application or library."""


class EngineInvalidError(ValueError):
    """An argument the engine cannot accept (unknown service, negative QPS, ...)."""


@dataclass(frozen=True)
class EngineCredentials:
    app_id: str
    api_key: str
    secret_key: str


@dataclass(frozen=True)
class LibraryStats:
    count: int
    capacity: int


def _random(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _services(services: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(s.strip() for s in services if s.strip()))
    unknown = [s for s in chosen if s not in SERVICES]
    if unknown:
        raise EngineInvalidError(
            f"unknown service(s) {', '.join(unknown)}; known: {', '.join(SERVICES)}"
        )
    return chosen


def _qps(qps: int) -> int:
    if qps < 0:
        raise EngineInvalidError("qps must be 0 (unlimited) or a positive integer")
    return qps


def _app(app_id: str) -> EngineApp:
    app = EngineApp.objects.filter(app_id=app_id).first()
    if app is None:
        raise EngineNotFoundError(f"no engine application {app_id}")
    return app


def _library(app_id: str, service: str) -> EngineLibrary:
    library = EngineLibrary.objects.filter(app__app_id=app_id, service=service).first()
    if library is None:
        raise EngineNotFoundError(f"application {app_id} has no {service} library")
    return library


def engine_app_create(
    *, name: str, services: Iterable[str], qps: int = DEFAULT_QPS, signing_only: bool = False
) -> EngineCredentials:
    """A new application with generated AppID (8 digits), API Key (24) and Secret Key (32)."""
    chosen, qps = _services(services), _qps(qps)
    for _ in range(10):
        credentials = EngineCredentials(
            app_id=str(secrets.randbelow(90_000_000) + 10_000_000),
            api_key=_random(ALNUM, 24),
            secret_key=_random(ALNUM, 32),
        )
        try:
            with transaction.atomic():
                EngineApp.objects.create(
                    name=name,
                    app_id=credentials.app_id,
                    api_key=credentials.api_key,
                    secret_key=credentials.secret_key,
                    services=chosen,
                    qps=qps,
                    signing_only=signing_only,
                )
        except IntegrityError:
            continue  # an AppID collision: draw again
        return credentials
    raise RuntimeError("could not allocate a unique AppID")


def engine_app_update(
    *,
    app_id: str,
    services: Iterable[str] | None = None,
    qps: int | None = None,
    name: str | None = None,
    signing_only: bool | None = None,
) -> None:
    """Change the enabled services, QPS, name or signing switch; libraries are kept."""
    fields: dict[str, object] = {}
    if services is not None:
        fields["services"] = _services(services)
    if qps is not None:
        fields["qps"] = _qps(qps)
    if name is not None:
        fields["name"] = name
    if signing_only is not None:
        fields["signing_only"] = signing_only
    app = _app(app_id)
    if fields:
        EngineApp.objects.filter(pk=app.pk).update(**fields)


def engine_app_rotate_secret(*, app_id: str) -> str:
    """A new Secret Key; every token issued before is revoked (next call gets 110)."""
    secret = _random(ALNUM, 32)
    with transaction.atomic():
        app = _app(app_id)
        app.secret_key = secret
        app.save(update_fields=["secret_key"])
        app.tokens.all().delete()
    return secret


def engine_app_delete(*, app_id: str) -> None:
    """Delete an application with its tokens, libraries and entries."""
    app = _app(app_id)
    for library_id in list(app.libraries.values_list("id", flat=True)):
        _library_drop(library_id)
    app.delete()


def engine_library_create(
    *, app_id: str, service: str, capacity: int = DEFAULT_CAPACITY
) -> LibraryStats:
    if service not in SERVICES:
        raise EngineInvalidError(f"unknown service {service}")
    if capacity < 1:
        raise EngineInvalidError("capacity must be a positive integer")
    app = _app(app_id)
    try:
        with transaction.atomic():
            EngineLibrary.objects.create(app=app, service=service, capacity=capacity)
    except IntegrityError:
        raise EngineInvalidError(f"application {app_id} already has a {service} library") from None
    return LibraryStats(count=0, capacity=capacity)


def engine_library_set_capacity(*, app_id: str, service: str, capacity: int) -> LibraryStats:
    """Raise (or lower) the capacity; adds fail with 19 while count >= capacity."""
    if capacity < 1:
        raise EngineInvalidError("capacity must be a positive integer")
    library = _library(app_id, service)
    EngineLibrary.objects.filter(pk=library.pk).update(capacity=capacity)
    return LibraryStats(count=library.entry_count, capacity=capacity)


def engine_library_clear(*, app_id: str, service: str) -> int:
    """Remove every image, including those other clients added. Returns how many."""
    return store.library_clear(_library(app_id, service).pk)


def engine_library_delete(*, app_id: str, service: str) -> None:
    """Delete the library; calls for the service then fail with 216017."""
    _library_drop(_library(app_id, service).pk)


def engine_library_stats(*, app_id: str, service: str) -> LibraryStats:
    library = _library(app_id, service)
    return LibraryStats(count=library.entry_count, capacity=library.capacity)


def _library_drop(library_id: int) -> None:
    uid = EngineLibrary.objects.filter(pk=library_id).values_list("uid", flat=True).first()
    store.library_purge(library_id)
    index.forget(library_id)
    if uid is not None:
        index.LibraryIndex(library_id, str(uid)).remove_snapshot()


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
    library = _library(app_id, service)
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
    library = _library(app_id, service)
    return set(EngineEntry.objects.filter(library=library).values_list("cont_sign", flat=True))
