"""Administration of built-in applications and libraries, called in-process by the console:
the writes. Reads are in engine/selectors.py.

Everything else (add, search, update, delete) goes through the wire like any SDK would.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from engine import index, store
from engine.errors import EngineInvalidError
from engine.models import (
    DEFAULT_CAPACITY,
    DEFAULT_QPS,
    AliyunInstance,
    EngineApp,
    EngineLibrary,
)
from engine.selectors import LibraryStats, get_app, get_library
from wire.baidu import SERVICES

ALNUM = string.ascii_letters + string.digits


@dataclass(frozen=True)
class EngineCredentials:
    app_id: str
    api_key: str
    secret_key: str


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
    app = get_app(app_id)
    if fields:
        EngineApp.objects.filter(pk=app.pk).update(**fields)


def engine_app_rotate_secret(*, app_id: str) -> str:
    """A new Secret Key; every token issued before is revoked (next call gets 110)."""
    secret = _random(ALNUM, 32)
    with transaction.atomic():
        app = get_app(app_id)
        app.secret_key = secret
        app.save(update_fields=["secret_key"])
        app.tokens.all().delete()
    return secret


def engine_app_delete(*, app_id: str) -> None:
    """Delete an application with its tokens, libraries and entries."""
    app = get_app(app_id)
    for library_id in list(app.libraries.values_list("id", flat=True)):
        _library_drop(library_id)
    for instance in list(app.aliyun_instances.all()):
        aliyun_instance_drop(instance)
    app.delete()


def aliyun_instance_drop(instance: AliyunInstance) -> None:
    """Delete an Alibaba instance with its pictures and library (aliyun-wire §4.1)."""
    library_id = instance.library_id
    instance.delete()  # first: its row and its pictures' rows point at the library
    _library_drop(library_id)


def engine_library_create(
    *, app_id: str, service: str, capacity: int = DEFAULT_CAPACITY
) -> LibraryStats:
    if service not in SERVICES:
        raise EngineInvalidError(f"unknown service {service}")
    if capacity < 1:
        raise EngineInvalidError("capacity must be a positive integer")
    app = get_app(app_id)
    try:
        with transaction.atomic():
            EngineLibrary.objects.create(app=app, service=service, capacity=capacity)
    except IntegrityError:
        raise EngineInvalidError(f"application {app_id} already has a {service} library") from None
    return LibraryStats(count=0, capacity=capacity, seq=0)


def engine_library_set_capacity(*, app_id: str, service: str, capacity: int) -> LibraryStats:
    """Raise (or lower) the capacity; adds fail with 19 while count >= capacity."""
    if capacity < 1:
        raise EngineInvalidError("capacity must be a positive integer")
    library = get_library(app_id, service)
    EngineLibrary.objects.filter(pk=library.pk).update(capacity=capacity)
    return LibraryStats(count=library.entry_count, capacity=capacity, seq=library.seq)


def engine_library_clear(*, app_id: str, service: str) -> int:
    """Remove every image, including those other clients added. Returns how many."""
    return store.library_clear(get_library(app_id, service).pk)


def engine_library_delete(*, app_id: str, service: str) -> None:
    """Delete the library; calls for the service then fail with 216017."""
    _library_drop(get_library(app_id, service).pk)


def _library_drop(library_id: int) -> None:
    uid = EngineLibrary.objects.filter(pk=library_id).values_list("uid", flat=True).first()
    store.library_purge(library_id)
    index.forget(library_id)
    if uid is not None:
        index.LibraryIndex(library_id, str(uid)).remove_files()
