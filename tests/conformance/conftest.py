"""A real engine (gunicorn, two worker processes, its own SQLite database and data directory)
driven by the official, unmodified `baidu-aip` SDK, its URLs rewritten as in baidu-wire §12."""

from __future__ import annotations

import base64
import contextlib
import importlib
import io
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
BAIDU = "https://aip.baidubce.com"
SERVICES = ("same_hq", "similar", "product", "picturebook", "materiel")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# ------------------------------------------------------------------ photos


def _generated(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(small).resize((640, 480), Image.Resampling.BICUBIC).save(out, "JPEG")
    return out.getvalue()


def _photos() -> list[bytes]:
    """Real photographs from bench/corpus.py (Debian packages), as JPEGs <= 1024 px."""
    sys.path.insert(0, str(REPO))
    try:
        corpus: Any = importlib.import_module("bench.corpus")
    except ImportError:
        return []
    finally:
        sys.path.remove(str(REPO))
    out = []
    for path in corpus.photos():
        image = corpus.load_rgb(path, max_side=1024)
        if min(image.size) >= 360 and max(image.size) <= 10 * min(image.size):
            out.append(corpus.encode(image, "JPEG", quality=90))
    return out


@pytest.fixture(scope="session")
def photos() -> list[bytes]:
    found = _photos()
    if len(found) >= 12:
        return found
    if os.environ.get("TUKU_REQUIRE_PHOTOS") == "1":
        pytest.fail("too few photos: run `make system` (bench/corpus.py ensure --minimal) first")
    return [_generated(seed) for seed in range(40)]


# ------------------------------------------------------------------ the engine


@dataclass
class Credentials:
    app_id: str
    api_key: str
    secret_key: str


class Engine:
    def __init__(self, base: str, data_dir: Path, env: dict[str, str]) -> None:
        self.base = base
        self.data_dir = data_dir
        self.env = env

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [PYTHON, "manage.py", *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def app(
        self,
        services: tuple[str, ...] = SERVICES,
        *,
        qps: int = 0,
        signing_only: bool = False,
        libraries: tuple[str, ...] | None = None,
        capacity: int | None = None,
    ) -> Credentials:
        command = ["engine_app", "create", "--name", "conformance"]
        command += ["--services", ",".join(services), "--qps", str(qps)]
        if signing_only:
            command.append("--signing-only")
        out = self.manage(*command)
        values = dict(re.findall(r"^(AppID|API Key|Secret Key):\s+(\S+)$", out, re.M))
        creds = Credentials(values["AppID"], values["API Key"], values["Secret Key"])
        for service in services if libraries is None else libraries:
            extra = ["--capacity", str(capacity)] if capacity else []
            self.manage(
                "engine_library", "create", "--app-id", creds.app_id, "--service", service, *extra
            )
        return creds

    def shell(self, code: str) -> str:
        return self.manage("shell", "-c", code)


@contextlib.contextmanager
def running_engine(data_dir: Path, **settings: str) -> Iterator[Engine]:
    """gunicorn with two worker processes on a free port; `settings` are extra variables."""
    models = REPO / "data" / "models"
    if models.is_dir():  # reuse the exported ONNX model instead of exporting it again
        (data_dir / "models").symlink_to(models)
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "console.settings",
        "TUKU_DATA_DIR": str(data_dir),
        "DATABASE_URL": f"sqlite:///{data_dir / 'engine.sqlite3'}",
        "REDIS_URL": "",
        "TUKU_ENGINE_URL_FETCH": "true",
        "TUKU_ENGINE_URL_FETCH_PRIVATE": "true",  # the image servers are on 127.0.0.1
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        **settings,
    }
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env.pop(name, None)
    engine = Engine(f"http://127.0.0.1:{port}", data_dir, env)
    engine.manage("migrate", "engine", "--noinput")
    engine.manage("engine_model")
    log = (data_dir / "server.log").open("w")
    server = subprocess.Popen(
        [
            str(Path(PYTHON).with_name("gunicorn")),
            "console.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "4",
            "--timeout",
            "120",
            "--control-socket",
            str(data_dir / "gunicorn.ctl"),
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{engine.base}/oauth/2.0/token", timeout=2)
                break
            except requests.RequestException:  # not listening yet, or still starting up
                if time.monotonic() > deadline or server.poll() is not None:
                    log.flush()
                    raise RuntimeError(
                        "engine did not start:\n" + (data_dir / "server.log").read_text()
                    ) from None
                time.sleep(0.2)
        yield engine
    finally:
        server.terminate()
        server.wait(30)
        log.close()


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with running_engine(tmp_path_factory.mktemp("engine-data")) as started:
        yield started


# ------------------------------------------------------------------ an image server


class ImageServer:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        handler = self._handler()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, name: str, data: bytes) -> str:
        self.files[name] = data
        return f"{self.base}/{name}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        files = self.files

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                name = self.path.lstrip("/")
                if name == "slow":
                    time.sleep(11)
                body = files.get(name)
                if name.startswith("redirect-"):
                    self.send_response(302)
                    self.send_header("Location", "/" + name.removeprefix("redirect-"))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200 if body is not None else 404)
                payload = body if body is not None else b"missing"
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                with contextlib.suppress(OSError):  # the engine may hang up early
                    self.wfile.write(payload)

        return Handler


@pytest.fixture(scope="session")
def images() -> Iterator[ImageServer]:
    server = ImageServer()
    yield server
    server.httpd.shutdown()


# ------------------------------------------------------------------ the SDK


def sdk(engine: Engine, creds: Credentials) -> Any:
    """The official client with its 22 URLs pointed at the engine (baidu-wire §12)."""
    from aip import AipImageSearch

    client = AipImageSearch(creds.app_id, creds.api_key, creds.secret_key)
    rewritten = 0
    for cls in type(client).__mro__:
        for name, value in vars(cls).items():
            if isinstance(value, str) and value.startswith(BAIDU):
                setattr(client, name, engine.base + value[len(BAIDU) :])
                rewritten += 1
    assert rewritten == 22
    return client


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
