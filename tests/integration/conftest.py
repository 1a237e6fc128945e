"""Real processes for the integration suite: the web server with the engine, Celery workers,
a private Redis for outage tests and an S3-compatible server.

Run with DATABASE_URL pointing at PostgreSQL and REDIS_URL at Redis (`make integration`).
The test process and every child share the test database, the data directory and the keys.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@dataclass
class Process:
    """A child process in its own session, so a kill reaches its whole tree."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> Process:
        handle = self.log.open("ab")
        self.popen = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=ROOT,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.popen and self.popen.poll() is None:
            os.killpg(self.popen.pid, sig)
            self.popen.wait(timeout=30)

    def stop(self) -> None:
        if self.popen and self.popen.poll() is None:
            self.kill(signal.SIGTERM)


def django_env(**overrides: str) -> dict[str, str]:
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "TUKU_DATA_DIR": str(settings.DATA_DIR),
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "TUKU_FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
        "TUKU_ENGINE_URL": settings.ENGINE_URL,
        "PYTHONUNBUFFERED": "1",
    }
    env.update(overrides)
    return env


@pytest.fixture(scope="session", autouse=True)
def integration_settings() -> None:
    if not settings.DATABASES["default"]["ENGINE"].endswith("postgresql") or not settings.REDIS_URL:
        pytest.fail("the integration suite needs DATABASE_URL (PostgreSQL) and REDIS_URL set")
    # The engine's model is exported once per checkout; the suite's data directory borrows it.
    models = Path(settings.DATA_DIR) / "models"
    if not models.exists():
        models.symlink_to(ROOT / "data" / "models")


@pytest.fixture(scope="session")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="session")
def web(django_db_setup, django_db_blocker, logs: Path) -> Iterator[str]:
    """The web server (console and engine) on the address settings.ENGINE_URL names."""
    port = settings.ENGINE_URL.rsplit(":", 1)[1].strip("/")
    with django_db_blocker.unblock():
        env = django_env()
    server = Process(
        "web",
        [
            sys.executable,
            "-m",
            "gunicorn",
            "console.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--threads",
            "4",
            "--control-socket",
            str(logs / "web.ctl"),
        ],
        env,
        logs / "web.log",
    ).start()

    def up() -> bool:
        try:
            return requests.get(f"{settings.ENGINE_URL}/oauth/2.0/token", timeout=1).status_code > 0
        except requests.RequestException:
            return False

    wait_for(up, 60, "the web server:\n" + server.output())
    yield settings.ENGINE_URL
    server.stop()


class Workers:
    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.running: list[Process] = []

    def start(self, *, beat: bool = False, concurrency: int = 1, **env: str) -> Process:
        name = f"worker{len(self.running)}"
        argv = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "console",
            "worker",
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "INFO",
            "--hostname",
            f"{name}@%h",
            "--without-gossip",
            "--without-mingle",
        ]
        if beat:
            argv += ["--beat", "--schedule", str(self.logs / f"{name}-beat")]
        process = Process(name, argv, django_env(**env), self.logs / f"{name}.log").start()
        self.running.append(process)
        wait_for(
            lambda: " ready." in process.output(), 60, f"{name} to start:\n" + process.output()
        )
        return process

    def stop_all(self) -> None:
        for process in self.running:
            process.stop()


class WebServer:
    """A gunicorn of a test's own (console and engine) on a fixed port, which the test may
    SIGKILL and start again: the web server that serves uploads, or a backend that goes away."""

    def __init__(self, logs: Path, name: str, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.logs, self.name, self.env = logs, name, django_env(**env)
        self.process: Process | None = None
        self.starts = 0

    def up(self) -> bool:
        try:
            return requests.get(f"{self.url}/oauth/2.0/token", timeout=1).status_code > 0
        except requests.RequestException:
            return False

    def start(self, timeout: float = 90) -> WebServer:
        argv = [
            sys.executable,
            "-m",
            "gunicorn",
            "console.wsgi",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            "1",
            "--threads",
            "4",
            "--control-socket",
            str(self.logs / f"{self.name}-{self.starts}.ctl"),
        ]
        self.starts += 1
        self.process = Process(self.name, argv, self.env, self.logs / f"{self.name}.log").start()
        wait_for(self.up, timeout, f"{self.name} to start:\n" + self.process.output()[-3000:])
        return self

    def kill(self) -> None:
        """SIGKILL to the master and its workers at once: requests in flight are cut off."""
        if self.process is not None:
            self.process.kill(signal.SIGKILL)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


@pytest.fixture
def web_servers(web: str, logs: Path) -> Iterator[Callable[..., WebServer]]:
    """Start gunicorns of the test's own: `web_servers(name, **env)`; all stopped after."""
    started: list[WebServer] = []

    def make(name: str, **env: str) -> WebServer:
        server = WebServer(logs, name, **env).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def workers(web: str, logs: Path) -> Iterator[Workers]:
    pool = Workers(logs)
    yield pool
    pool.stop_all()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[Callable[[bool], str]]:
    """A Redis of the test's own, which the test may stop and start again (same port)."""
    port = free_port()
    server: list[subprocess.Popen[bytes]] = []

    def switch(on: bool) -> str:
        if on and not server:
            server.append(
                subprocess.Popen(
                    [
                        "redis-server",
                        "--port",
                        str(port),
                        "--bind",
                        "127.0.0.1",
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                        "--dir",
                        str(tmp_path),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            wait_for(lambda: _answers(port), 10, "private redis")
        elif not on and server:
            server.pop().terminate()
        return f"redis://127.0.0.1:{port}/0"

    yield switch
    switch(False)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="session")
def s3_server(logs: Path) -> Iterator[str]:
    """moto in server mode: a separate S3-compatible process reached over HTTP."""
    executable = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    assert executable, "moto[server] is not installed"
    port = free_port()
    server = Process(
        "s3", [executable, "-H", "127.0.0.1", "-p", str(port)], dict(os.environ), logs / "s3.log"
    ).start()
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return requests.get(url, timeout=1).status_code < 500
        except requests.RequestException:
            return False

    wait_for(up, 30, "moto_server:\n" + server.output())
    yield url
    server.stop()


# Figures the fault tests measure (tests/integration/test_faults.py): shown at the end of the
# run whether or not pytest captures output, and appended as JSON lines to the file
# TUKU_FAULTS_REPORT names, if any (bench/faults.py reads them).
FIGURES: list[str] = []


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Callable[..., None]:
    def write(**figures: object) -> None:
        line = ", ".join(f"{key}={value}" for key, value in figures.items())
        FIGURES.append(f"{request.node.name}: {line}")
        target = os.environ.get("TUKU_FAULTS_REPORT")
        if target:
            with open(target, "a") as out:
                out.write(json.dumps({"test": request.node.name, **figures}, default=str) + "\n")

    return write


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("fault figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
