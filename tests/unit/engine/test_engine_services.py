"""The console-facing services, selectors and management commands."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from engine import selectors, services
from engine.errors import EngineInvalidError, EngineNotFoundError
from engine.models import EngineApp, EngineEntry, EngineLibrary, EngineToken

from .enginekit import App, b64, picture

pytestmark = pytest.mark.django_db


def test_app_create_generates_credentials() -> None:
    credentials = services.engine_app_create(name="Shop", services=["same_hq", "similar"], qps=3)
    assert re.fullmatch(r"[1-9][0-9]{7}", credentials.app_id)
    assert re.fullmatch(r"[A-Za-z0-9]{24}", credentials.api_key)
    assert re.fullmatch(r"[A-Za-z0-9]{32}", credentials.secret_key)
    app = EngineApp.objects.get(app_id=credentials.app_id)
    assert (app.name, app.services, app.qps, app.signing_only) == (
        "Shop",
        ["same_hq", "similar"],
        3,
        False,
    )
    assert app.secret_key == credentials.secret_key
    # Encrypted at rest.
    raw = EngineApp.objects.filter(pk=app.pk).values_list("secret_key", flat=True)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT secret_key FROM engine_engineapp WHERE id = %s", [app.pk])
        stored = cursor.fetchone()[0]
    assert credentials.secret_key not in stored
    assert list(raw) == [credentials.secret_key]


def test_app_defaults_and_validation() -> None:
    credentials = services.engine_app_create(name="x", services=["materiel"])
    # Unlimited: a local engine has no billing tier.
    assert EngineApp.objects.get(app_id=credentials.app_id).qps == 0
    with pytest.raises(EngineInvalidError):
        services.engine_app_create(name="x", services=["nope"])
    with pytest.raises(EngineInvalidError):
        services.engine_app_create(name="x", services=["similar"], qps=-1)
    with pytest.raises(EngineNotFoundError):
        services.engine_app_update(app_id="00000000", qps=1)


def test_app_update() -> None:
    credentials = services.engine_app_create(name="x", services=["similar"])
    services.engine_app_update(app_id=credentials.app_id, services=["product"], qps=0)
    app = EngineApp.objects.get(app_id=credentials.app_id)
    assert (app.services, app.qps) == (["product"], 0)


def test_rotate_secret_revokes_tokens(app: App) -> None:
    _ = app.token
    assert EngineToken.objects.count() == 1
    secret = services.engine_app_rotate_secret(app_id=app.app_id)
    assert secret != app.secret_key and len(secret) == 32
    assert EngineToken.objects.count() == 0
    assert EngineApp.objects.get(app_id=app.app_id).secret_key == secret


def test_library_lifecycle(app: App) -> None:
    stats = selectors.engine_library_stats(app_id=app.app_id, service="similar")
    assert (stats.count, stats.capacity) == (0, 500_000)
    with pytest.raises(EngineInvalidError):
        services.engine_library_create(app_id=app.app_id, service="similar")
    app.call("similar", "add", {"image": b64(picture(1)), "brief": "a"})
    app.call("similar", "add", {"image": b64(picture(2)), "brief": "b"})
    services.engine_library_set_capacity(app_id=app.app_id, service="similar", capacity=1_000_000)
    stats = selectors.engine_library_stats(app_id=app.app_id, service="similar")
    assert (stats.count, stats.capacity) == (2, 1_000_000)
    assert services.engine_library_clear(app_id=app.app_id, service="similar") == 2
    assert selectors.engine_library_stats(app_id=app.app_id, service="similar").count == 0
    services.engine_library_delete(app_id=app.app_id, service="similar")
    with pytest.raises(EngineNotFoundError):
        selectors.engine_library_stats(app_id=app.app_id, service="similar")


def test_app_delete_removes_everything(app: App) -> None:
    app.call("similar", "add", {"image": b64(picture(1)), "brief": "a"})
    services.engine_app_delete(app_id=app.app_id)
    assert not EngineApp.objects.exists()
    assert not EngineLibrary.objects.exists()
    assert not EngineEntry.objects.exists()


def test_management_commands() -> None:
    out = io.StringIO()
    call_command(
        "engine_app",
        "create",
        "--name",
        "cli",
        "--services",
        "same_hq,similar",
        "--qps",
        "0",
        "--signing-only",
        stdout=out,
    )
    text = out.getvalue()
    match = re.search(r"AppID:\s+(\d{8})", text)
    assert match is not None
    app_id = match[1]
    assert re.search(r"API Key:\s+[A-Za-z0-9]{24}", text)
    assert re.search(r"Secret Key:\s+[A-Za-z0-9]{32}", text)
    app = EngineApp.objects.get(app_id=app_id)
    assert (app.services, app.qps, app.signing_only) == (["same_hq", "similar"], 0, True)
    out = io.StringIO()
    call_command(
        "engine_library",
        "create",
        "--app-id",
        app_id,
        "--service",
        "similar",
        "--capacity",
        "7",
        stdout=out,
    )
    assert "0 / 7" in out.getvalue()
    out = io.StringIO()
    call_command("engine_library", "stats", "--app-id", app_id, "--service", "similar", stdout=out)
    assert "0 / 7" in out.getvalue()
    with pytest.raises(CommandError):
        call_command("engine_library", "stats", "--app-id", app_id, "--service", "product")
    out = io.StringIO()
    call_command("engine_app", "list", stdout=out)
    assert app_id in out.getvalue()
    call_command(
        "engine_app",
        "update",
        "--app-id",
        app_id,
        "--qps",
        "4",
        "--signing-only",
        "no",
        stdout=io.StringIO(),
    )
    app.refresh_from_db()
    assert (app.qps, app.signing_only) == (4, False)
    call_command("engine_app", "delete", "--app-id", app_id, stdout=io.StringIO())
    assert not EngineApp.objects.exists()


def test_engine_index_rebuild_command_writes_snapshots(app: App, settings: Any) -> None:
    app.call("similar", "add", {"image": b64(picture(1)), "brief": "a"})
    out = io.StringIO()
    call_command(
        "engine_index", "rebuild", "--app-id", app.app_id, "--service", "similar", stdout=out
    )
    assert "similar: 1 entries" in out.getvalue()
    assert list((settings.DATA_DIR / "engine" / "index").glob("*/head.json"))
    with pytest.raises(CommandError):
        call_command("engine_index", "rebuild", "--app-id", "00000000")


def test_admin_pages_render(app: App, admin_client: Any) -> None:
    engine_app = EngineApp.objects.get(app_id=app.app_id)
    library = EngineLibrary.objects.filter(app=engine_app).first()
    assert library is not None
    for url in (
        "/admin/engine/engineapp/",
        f"/admin/engine/engineapp/{engine_app.pk}/change/",
        "/admin/engine/enginelibrary/",
        f"/admin/engine/enginelibrary/{library.pk}/change/",
    ):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert app.secret_key.encode() not in response.content
