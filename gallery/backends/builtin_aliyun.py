"""The built-in engine behind the seam over Alibaba's wire: images over HTTP to
`settings.ENGINE_URL` through the same Alibaba client as the hosted service, and in-process
what Alibaba does in its own console (AccessKeys, instances, capacity).

With `gallery/backends/builtin.py` the only console modules that import the engine.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import ClassVar

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from engine.aliyun.services import (
    access_key_create,
    instance_clear,
    instance_count,
    instance_create,
    instance_delete,
    instance_set_capacity,
)
from engine.errors import EngineInvalidError, EngineNotFoundError
from engine.features.extract import FEATURES_VERSION
from engine.services import engine_app_delete, engine_app_rotate_secret, engine_app_update
from gallery.backends.aliyun import AliyunBackend
from gallery.backends.base import Keys
from gallery.models import TYPE_OF_SERVICE, Library
from wire.aliyun import MAX_INSTANCE_NAME, QPS_TIERS


class BuiltinAliyunBackend(AliyunBackend):
    issues_keys: ClassVar[bool] = True
    provisions_libraries: ClassVar[bool] = True
    default_base_url: ClassVar[str] = ""  # follows settings.ENGINE_URL wherever it moves
    # The engine meters each instance at its QPS tier, the highest of which it creates; the
    # console's own throttle at that rate keeps it from being refused with DeniedRequest.
    default_qps: ClassVar[int] = QPS_TIERS[-1]

    @property
    def _access_key_id(self) -> str:
        return self.application.api_key

    def library_verify(self, library: Library) -> None:
        """The name and type the engine will take (it creates the instance in
        `library_provision`)."""
        name = library.instance_name
        if not 1 <= len(name) <= MAX_INSTANCE_NAME:
            raise ValidationError({"instance_name": _("An instance name has 1 to 20 characters.")})
        if library.service not in TYPE_OF_SERVICE:
            raise ValidationError({"service": _("The engine serves product, generic and fabric.")})

    def library_provision(self, library: Library) -> None:
        try:
            instance_create(
                access_key_id=self._access_key_id,
                name=library.instance_name,
                service_type=TYPE_OF_SERVICE[library.service],
                capacity=library.capacity,
                qps=QPS_TIERS[-1],
            )
        except EngineInvalidError as exc:
            raise ValidationError({"instance_name": str(exc)}) from None

    def library_capacity_provision(self, library: Library, capacity: int) -> None:
        instance_set_capacity(
            access_key_id=self._access_key_id, name=library.instance_name, capacity=capacity
        )

    def library_empty(self, library: Library) -> bool:
        instance_clear(access_key_id=self._access_key_id, name=library.instance_name)
        return True

    def library_drop(self, library: Library) -> None:
        # Gone already: the end state is the one asked for.
        with contextlib.suppress(EngineNotFoundError):
            instance_delete(access_key_id=self._access_key_id, name=library.instance_name)

    def library_size(self, library: Library) -> int | None:
        try:
            return instance_count(access_key_id=self._access_key_id, name=library.instance_name)
        except EngineNotFoundError:
            return None

    def features_version(self) -> str:
        return FEATURES_VERSION

    @classmethod
    def keys_issue(cls, *, name: str, services: Sequence[str], qps: int) -> Keys:
        made = access_key_create(name=name)
        return Keys(
            app_id=made.app_id, api_key=made.access_key_id, secret_key=made.access_key_secret
        )

    def application_provision(self, *, services: Sequence[str], qps: int) -> None:
        """Nothing to do: the engine meters each instance at its own tier."""

    def application_rename(self, *, name: str) -> None:
        engine_app_update(app_id=self.application.app_id, name=name)

    def application_drop(self) -> None:
        with contextlib.suppress(EngineNotFoundError):
            engine_app_delete(app_id=self.application.app_id)

    def secret_rotate(self) -> str:
        return engine_app_rotate_secret(app_id=self.application.app_id)
