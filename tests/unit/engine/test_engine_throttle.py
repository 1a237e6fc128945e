"""QPS: a sliding one-second window per application and interface, shared by processes."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from django.test import Client
from requests import PreparedRequest, Response
from requests.adapters import BaseAdapter

from engine import throttle
from searchapi.baidu import BaiduClient, BaiduError, Credentials
from searchapi.throttle import MemoryRateLimiter

from .enginekit import App, assert_error, picture


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(throttle.time, "time", fake)
    return fake


def test_sliding_window(clock: Clock) -> None:
    assert [throttle.admit("a.similar.add", 3) for _ in range(4)] == [True, True, True, False]
    assert throttle.admit("a.similar.search", 3)  # another interface has its own window
    assert throttle.admit("b.similar.add", 3)  # and another application
    clock.now += 0.999
    assert not throttle.admit("a.similar.add", 3)
    clock.now += 0.002
    assert throttle.admit("a.similar.add", 3)


def test_the_window_slides(clock: Clock) -> None:
    assert throttle.admit("s.x.add", 2)
    clock.now += 0.5
    assert throttle.admit("s.x.add", 2)
    assert not throttle.admit("s.x.add", 2)
    clock.now += 0.6  # the first admission left the window, the second has not
    assert throttle.admit("s.x.add", 2)
    assert not throttle.admit("s.x.add", 2)


def test_zero_is_unlimited(clock: Clock) -> None:
    assert all(throttle.admit("u.similar.add", 0) for _ in range(100))


def test_refused_calls_do_not_extend_the_window(clock: Clock) -> None:
    assert throttle.admit("r.x.add", 1)
    clock.now += 0.6
    assert not throttle.admit("r.x.add", 1)
    clock.now += 0.5
    assert throttle.admit("r.x.add", 1)


def test_window_is_shared_by_processes(settings: Any, tmp_path: Path) -> None:
    script = (
        "import django, os, sys\n"
        "os.environ['DJANGO_SETTINGS_MODULE'] = 'console.settings'\n"
        "django.setup()\n"
        "from django.conf import settings\n"
        f"settings.DATA_DIR = {str(tmp_path)!r}\n"
        "from engine import throttle\n"
        "print(sum(throttle.admit('p.similar.add', 10) for _ in range(10)))\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    admitted = sum(int(p.communicate(timeout=60)[0].strip().splitlines()[-1]) for p in procs)
    # 30 attempts from 3 processes within (almost certainly) one second: 10 admitted. If
    # process start-up straddled a second, a few more may pass, never fewer.
    assert 10 <= admitted <= 30
    if admitted > 10:
        pytest.skip("processes did not overlap within one second; inconclusive")


@pytest.fixture
def redis_cache(settings: Any, tmp_path: Path) -> Any:
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": f"redis://127.0.0.1:{port}/0",
            }
        }
        yield
    finally:
        proc.terminate()
        proc.wait(10)


def test_redis_backend(redis_cache: Any, settings: Any, tmp_path: Path) -> None:
    settings.DATA_DIR = tmp_path / "unused"
    assert [throttle.admit("a.similar.add", 2) for _ in range(3)] == [True, True, False]
    assert not (tmp_path / "unused").exists()  # counted in Redis, not in files
    time.sleep(1.05)  # timed by the Redis server's clock
    assert throttle.admit("a.similar.add", 2)


# ------------------------------------------------------------------ Redis down (baidu-wire §9)


@pytest.fixture
def redis_down(settings: Any) -> None:
    """Redis as the cache, at a port of 127.0.0.1 where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }


def test_redis_down_is_unavailable_not_admitted(redis_down: None) -> None:
    with pytest.raises(throttle.Unavailable):
        throttle.admit("a.similar.add", 2)
    assert throttle.admit("a.similar.add", 0)  # unlimited needs no window


class EngineTransport(BaseAdapter):
    """requests' transport onto the Django test client, so the real client talks to the engine."""

    def __init__(self, client: Client) -> None:
        super().__init__()
        self.client = client

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:
        url = urlsplit(str(request.url))
        path = url.path + (f"?{url.query}" if url.query else "")
        if request.method == "GET":
            answer = self.client.get(path)
        else:
            body = request.body or b""
            content_type = request.headers.get("Content-Type", "")
            answer = self.client.post(path, body, content_type=content_type)
        response = Response()
        response.status_code = answer.status_code
        response._content = answer.content
        response.url = str(request.url)
        response.request = request
        return response

    def close(self) -> None:
        pass


@pytest.mark.django_db
def test_redis_down_answers_2_which_the_client_treats_as_transient(
    make_app: Callable[..., App], redis_down: None
) -> None:
    app = make_app(("similar",), qps=2)
    assert_error(app.call("similar", "search", {}), 2, "Service temporarily unavailable")

    session = requests.Session()
    session.mount("http://", EngineTransport(app.client))
    sleeps: list[float] = []
    client = BaiduClient(
        base_url="http://testserver",
        credentials=Credentials(app.app_id, app.api_key, app.secret_key),
        limiter=MemoryRateLimiter(),
        session=session,
        sleep=sleeps.append,
    )
    with pytest.raises(BaiduError) as info:
        client.search("similar", image=picture(1))
    error = info.value
    assert (error.error_code, error.error_msg) == (2, "Service temporarily unavailable")
    assert error.retryable  # the task's backoff tries again later
    assert sleeps == []  # not 18: no in-call QPS back-off
