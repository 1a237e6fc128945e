"""The built-in engine behind the seam: the Baidu wire for images, in-process for the rest.

Image calls go over HTTP to `settings.ENGINE_URL` through the same Baidu client as the hosted
service, so the console exercises exactly what it would against Baidu. What the hosted service
does in its own console (keys, libraries, capacity, services) the engine does here, in the
console's own transaction. This is the only module of the console that imports the engine.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import ClassVar

from engine.errors import EngineNotFoundError
from engine.features.extract import FEATURES_VERSION
from engine.selectors import (
    engine_library_cont_signs,
    engine_library_entries_since,
    engine_library_stats,
)
from engine.services import (
    engine_app_create,
    engine_app_delete,
    engine_app_rotate_secret,
    engine_app_update,
    engine_library_clear,
    engine_library_create,
    engine_library_delete,
    engine_library_set_capacity,
)
from gallery.backends.baidu import BaiduBackend
from gallery.backends.base import ApiChanges, ApiImage, Keys
from gallery.labels import Labels
from gallery.models import Library


class BuiltinBackend(BaiduBackend):
    issues_keys: ClassVar[bool] = True
    provisions_libraries: ClassVar[bool] = True
    default_base_url: ClassVar[str] = ""  # follows settings.ENGINE_URL wherever it moves
    # Unlimited: the engine is bounded by its own CPU, not by a bill, and a limit below that
    # only leaves it idle (a console batch ran at the paid tier's 10 images/s; unlimited, 24 on
    # the same 2 cores, bench/ingest.py). A tier can still be chosen, to try a client on it.
    default_qps: ClassVar[int] = 0

    @property
    def _app_id(self) -> str:
        return self.application.app_id

    def library_verify(self, library: Library) -> None:
        """Nothing to check: the engine creates the library in `library_provision`."""

    def library_provision(self, library: Library) -> None:
        engine_library_create(
            app_id=self._app_id, service=library.service, capacity=library.capacity
        )

    def library_capacity_provision(self, library: Library, capacity: int) -> None:
        engine_library_set_capacity(app_id=self._app_id, service=library.service, capacity=capacity)

    def library_empty(self, library: Library) -> bool:
        engine_library_clear(app_id=self._app_id, service=library.service)
        return True

    def library_drop(self, library: Library) -> None:
        # Gone already: the end state is the one asked for.
        with contextlib.suppress(EngineNotFoundError):
            engine_library_delete(app_id=self._app_id, service=library.service)

    def library_size(self, library: Library) -> int | None:
        try:
            return engine_library_stats(app_id=self._app_id, service=library.service).count
        except EngineNotFoundError:
            return None

    def features_version(self) -> str:
        return FEATURES_VERSION

    def api_seq(self, library: Library) -> int | None:
        try:
            return engine_library_stats(app_id=self._app_id, service=library.service).seq
        except EngineNotFoundError:
            return None

    def api_changes(self, library: Library, *, after_seq: int) -> ApiChanges | None:
        try:
            since = engine_library_entries_since(
                app_id=self._app_id, service=library.service, after_seq=after_seq
            )
        except EngineNotFoundError:
            return None
        added = [
            ApiImage(
                ref=entry.cont_sign,
                sha256=entry.sha256,
                width=entry.width,
                height=entry.height,
                byte_size=entry.byte_size,
                format=entry.format,
                brief=entry.brief,
                labels=Labels(tuple(entry.tags), entry.class_id1, entry.class_id2),
                thumbnail=entry.thumbnail or None,
            )
            for entry in since.entries
        ]
        return ApiChanges(seq=since.seq, added=added, removed_any=since.removed)

    def refs(self, library: Library) -> set[str]:
        return engine_library_cont_signs(app_id=self._app_id, service=library.service)

    @classmethod
    def keys_issue(cls, *, name: str, services: Sequence[str], qps: int) -> Keys:
        made = engine_app_create(name=name, services=services, qps=qps)
        return Keys(app_id=made.app_id, api_key=made.api_key, secret_key=made.secret_key)

    def application_provision(self, *, services: Sequence[str], qps: int) -> None:
        engine_app_update(app_id=self._app_id, services=services, qps=qps)

    def application_rename(self, *, name: str) -> None:
        engine_app_update(app_id=self._app_id, name=name)

    def application_drop(self) -> None:
        with contextlib.suppress(EngineNotFoundError):
            engine_app_delete(app_id=self._app_id)

    def secret_rotate(self) -> str:
        return engine_app_rotate_secret(app_id=self._app_id)
