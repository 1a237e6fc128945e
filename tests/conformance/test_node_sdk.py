"""The official Node.js SDK (`baidu-aip-sdk` from npm) against a live engine: the suite is
`node/sdk.test.js`, run by `node --test`; this module starts engines, creates the
applications it needs and reads its verdict."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from PIL import Image

from .conftest import Credentials, Engine, running_engine

pytestmark = pytest.mark.conformance

NODE_SUITE = Path(__file__).with_name("node")


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory, photos: list[bytes]) -> Path:
    folder = tmp_path_factory.mktemp("node-samples")
    for i, photo in enumerate(photos):
        (folder / "photos").mkdir(exist_ok=True)
        (folder / "photos" / f"{i:03}.jpg").write_bytes(photo)
    Image.new("RGB", (400, 400), (90, 120, 150)).save(folder / "flat.png")
    Image.effect_noise((200, 200), 60).convert("RGB").save(folder / "small.png")
    return folder


def run_suite(engine: Engine, mode: str, apps: Mapping[str, object], samples: Path) -> None:
    if shutil.which("node") is None or not (NODE_SUITE / "node_modules").is_dir():
        pytest.fail("Node.js and the suite's packages are needed: run `make conformance`")
    env = {
        **engine.env,
        "TUKU_ENGINE": engine.base,
        "TUKU_MODE": mode,
        "TUKU_APPS": json.dumps(apps),
        "TUKU_PHOTOS": str(samples / "photos"),
        "TUKU_SAMPLES": str(samples),
    }
    result = subprocess.run(
        ["node", "--test", "--test-reporter=spec", "sdk.test.js"],
        cwd=NODE_SUITE,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    print(result.stdout)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-4000:]


def as_json(creds: Credentials) -> dict[str, str]:
    return {"app_id": creds.app_id, "api_key": creds.api_key, "secret_key": creds.secret_key}


def tokens(engine: Engine, app_id: str) -> tuple[str, str]:
    """A valid and an expired token of the application, issued by the engine itself."""
    out = engine.shell(
        "from django.utils import timezone; from engine import auth; "
        "from engine.models import EngineApp, EngineToken; "
        f"app = EngineApp.objects.get(app_id='{app_id}'); "
        "valid = auth.token_issue(app).access_token; "
        "expired = auth.token_issue(app).access_token; "
        "EngineToken.objects.filter(digest=auth.digest(expired))"
        ".update(expires_at=timezone.now()); "
        "print(valid, expired)"
    )
    valid, expired = out.split()[-2:]  # shell may print its own lines first
    return valid, expired


def test_token_mode_every_method_and_error(engine: Engine, samples: Path) -> None:
    errors = engine.app()
    valid, expired = tokens(engine, errors.app_id)
    apps: dict[str, object] = {
        "token": as_json(engine.app()),
        "errors": as_json(errors),
        "partial": as_json(engine.app(("similar", "product"), libraries=("similar",))),
        "qps": as_json(engine.app(("similar",), qps=1)),
        "capacity": as_json(engine.app(("similar",), capacity=1)),
        "valid_token": valid,
        "expired_token": expired,
    }
    run_suite(engine, "token", apps, samples)


def test_node_signatures_are_refused_by_default(engine: Engine, samples: Path) -> None:
    # The Node SDK signs Host `aip.baidubce.com` whatever host it talks to (baidu-wire §11.11).
    apps = {"signing": as_json(engine.app(signing_only=True))}
    run_suite(engine, "signing-refused", apps, samples)


@pytest.fixture(scope="module")
def lenient_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    data_dir = tmp_path_factory.mktemp("engine-signed-hosts")
    with running_engine(data_dir, TUKU_ENGINE_SIGNED_HOSTS="aip.baidubce.com") as started:
        yield started


def test_signing_mode_with_the_operator_setting(lenient_engine: Engine, samples: Path) -> None:
    apps = {"signing": as_json(lenient_engine.app(signing_only=True))}
    run_suite(lenient_engine, "signing", apps, samples)
