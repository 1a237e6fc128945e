from __future__ import annotations

import contextlib
import http.server
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from console.celery import app as celery_app
from gallery.backends import aliyun as aliyun_backend
from gallery.backends import baidu as baidu_backend
from gallery.models import Application, Library, Membership, Role
from tests.conftest import make_image
from tests.engine_wsgi import EngineAdapter
from tests.fakebaidu import FakeBaidu


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }
    return tmp_path / "media"


@pytest.fixture(autouse=True)
def eager_tasks():
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = False  # Retry must reach apply()
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture
def baidu(monkeypatch) -> FakeBaidu:
    fake = FakeBaidu()

    real = baidu_backend.http_session

    def session(*, public_only: bool) -> requests.Session:
        s = real(public_only=public_only)
        s.mount("https://aip.baidubce.com", fake)
        return s

    monkeypatch.setattr(baidu_backend, "http_session", session)
    return fake


@pytest.fixture
def application(db, personas, baidu):
    app = Application.objects.create(
        name="Shop",
        backend=Application.Backend.BAIDU,
        base_url="https://aip.baidubce.com",
        app_id="1234567",
        api_key=baidu.api_key,
        secret_key=baidu.secret_key,
        services=["same_hq", "similar", "product"],
        qps=0,
    )
    for role in (Role.OWNER, Role.EDITOR, Role.VIEWER):
        Membership.objects.create(user=personas[role.value], application=app, role=role)
    return app


@pytest.fixture
def library(application) -> Library:
    return Library.objects.create(application=application, service="same_hq", registered=True)


@pytest.fixture
def product_library(application) -> Library:
    return Library.objects.create(application=application, service="product", registered=True)


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """Run what would run after commit (tasks, eagerly) at the end of the block."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


class WebHandler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
    seen: list[str] = []  # the paths asked for, in order

    def do_GET(self):
        self.seen.append(self.path)
        status, headers, body = self.routes.get(self.path, (404, {}, b""))
        if status == 0:
            time.sleep(2)
            status = 200
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", headers.get("Content-Length", str(len(body))))
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def web(settings) -> Iterator[str]:
    """A local web server; private addresses must be allowed to reach it."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), WebHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.ENGINE_URL_FETCH_PRIVATE = True
    base = f"http://127.0.0.1:{server.server_address[1]}"
    WebHandler.seen = []
    WebHandler.routes = {
        "/cat.jpg": (200, {"Content-Type": "image/jpeg"}, make_image(42)),
        "/move": (302, {"Location": "/cat.jpg"}, b""),
        "/loop": (302, {"Location": "/loop"}, b""),
        "/huge.jpg": (200, {}, b"\xff" * (3 * 1024 * 1024 + 1)),
        "/liar.jpg": (200, {"Content-Length": "100"}, b"\xff" * 100),
        "/slow.jpg": (0, {}, make_image(42)),
    }
    yield base
    server.shutdown()


def _to_this_engine(settings: Any, monkeypatch: Any, backend_module: Any) -> None:
    """The backend module's calls of built-in applications go to this process's engine."""
    settings.ENGINE_URL = "http://testserver"
    real = backend_module.http_session

    def session(*, public_only: bool) -> requests.Session:
        s = real(public_only=public_only)
        s.mount("http://testserver", EngineAdapter())
        return s

    monkeypatch.setattr(backend_module, "http_session", session)


@pytest.fixture
def aliyun_engine(settings, monkeypatch):
    """Alibaba-wire calls of built-in applications go to this process's engine, in-process."""
    _to_this_engine(settings, monkeypatch, aliyun_backend)


@pytest.fixture
def baidu_engine(settings, monkeypatch):
    """Baidu-wire calls of built-in applications go to this process's engine, in-process."""
    _to_this_engine(settings, monkeypatch, baidu_backend)
