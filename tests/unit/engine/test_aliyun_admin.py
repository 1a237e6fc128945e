"""`manage.py engine_aliyun` and the instance rules behind it (aliyun-wire §4.1)."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import CommandError, call_command

from engine import services as engine_services
from engine.models import AliyunImage, AliyunInstance, EngineApp, EngineLibrary


def manage(*args: str) -> str:
    out = io.StringIO()
    call_command("engine_aliyun", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def key_id(db: None) -> str:
    out = manage("create-key", "--name", "ops")
    return re.findall(r"^AccessKey ID:\s+(\S+)$", out, re.M)[0]


def test_key_is_an_application_without_baidu_services(key_id: str) -> None:
    app = EngineApp.objects.get(api_key=key_id)
    assert app.services == [] and app.qps == 0


def test_create_list_delete(key_id: str) -> None:
    manage("create-instance", "--access-key-id", key_id, "--name", "shop", "--service-type", "0")
    manage(
        "create-instance",
        *("--access-key-id", key_id, "--name", "cloth", "--service-type", "2"),
        *("--capacity", "50", "--qps", "5"),
    )
    listing = manage("list")
    assert "shop  type=0  qps=10  0/10000" in listing
    assert "cloth  type=2  qps=5  0/50" in listing
    cloth = AliyunInstance.objects.get(name="cloth")
    assert cloth.library.app is None and cloth.library.service == "materiel"
    manage("delete-instance", "--access-key-id", key_id, "--name", "cloth")
    assert not EngineLibrary.objects.filter(pk=cloth.library_id).exists()


@pytest.mark.parametrize(
    "args",
    [
        ("--name", "x" * 21, "--service-type", "1"),
        ("--name", "ok", "--service-type", "3"),
        ("--name", "ok", "--service-type", "1", "--qps", "7"),
        ("--name", "ok", "--service-type", "1", "--capacity", "0"),
    ],
)
def test_refusals(key_id: str, args: tuple[str, ...]) -> None:
    with pytest.raises(CommandError):
        manage("create-instance", "--access-key-id", key_id, *args)


def test_duplicate_name_and_unknown_key(key_id: str) -> None:
    manage("create-instance", "--access-key-id", key_id, "--name", "a", "--service-type", "1")
    with pytest.raises(CommandError):
        manage("create-instance", "--access-key-id", key_id, "--name", "a", "--service-type", "1")
    with pytest.raises(CommandError):
        manage("create-instance", "--access-key-id", "nope", "--name", "b", "--service-type", "1")


def test_deleting_the_application_deletes_its_instances(key_id: str) -> None:
    manage("create-instance", "--access-key-id", key_id, "--name", "a", "--service-type", "1")
    app = EngineApp.objects.get(api_key=key_id)
    engine_services.engine_app_delete(app_id=app.app_id)
    assert not AliyunInstance.objects.exists() and not AliyunImage.objects.exists()
    assert not EngineLibrary.objects.exists()
