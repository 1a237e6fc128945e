"""Fixtures for the engine's unit tests: isolated data directory, applications."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client

from engine import index, services
from wire.baidu import SERVICES

from .enginekit import App


@pytest.fixture(autouse=True)
def engine_env(settings: Any, tmp_path: Any) -> Iterator[None]:
    """Each test gets its own data directory (QPS files, snapshots) and no cached index."""
    settings.DATA_DIR = tmp_path
    settings.ENGINE_URL_FETCH = True
    settings.ENGINE_URL_FETCH_PRIVATE = False
    index.forget()
    yield
    index.forget()


@pytest.fixture
def make_app(db: None, client: Client) -> Callable[..., App]:
    def make(
        services_: tuple[str, ...] = SERVICES,
        *,
        qps: int = 0,
        signing_only: bool = False,
        libraries: tuple[str, ...] | None = None,
        capacity: int = 500_000,
    ) -> App:
        credentials = services.engine_app_create(
            name="test", services=services_, qps=qps, signing_only=signing_only
        )
        for service in services_ if libraries is None else libraries:
            services.engine_library_create(
                app_id=credentials.app_id, service=service, capacity=capacity
            )
        return App(credentials.app_id, credentials.api_key, credentials.secret_key, client)

    return make


@pytest.fixture
def app(make_app: Callable[..., App]) -> App:
    return make_app()
