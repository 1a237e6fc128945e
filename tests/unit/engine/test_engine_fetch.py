"""`url` images are fetched safely (baidu-wire §5.2): only public addresses unless allowed, every
redirect re-vetted, bounded in time and size. The only server contacted is on 127.0.0.1."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from engine import fetch, params
from wire import urlfetch

from .enginekit import App, assert_error, picture

pytestmark = pytest.mark.django_db
IMAGE = picture(11, size=(320, 240))
BIG = 3 * 1024 * 1024 + 1


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        port = self.server.server_address[1]  # type: ignore[index]
        if path == "/img.png":
            self._send(200, IMAGE)
        elif path == "/empty":
            self._send(200, b"")
        elif path == "/text":
            self._send(200, b"hello, not an image")
        elif path == "/big":
            self._send(200, b"\0" * BIG)
        elif path == "/big-chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"\0" * 65536
            try:
                for _ in range(BIG // len(chunk) + 2):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.write(b"0\r\n\r\n")
            except OSError:
                pass  # the engine hung up early, as it should
        elif path == "/slow":
            time.sleep(2.5)
            self._send(200, IMAGE)
        elif path.startswith("/hops/"):
            left = int(path.rsplit("/", 1)[1])
            target = "/img.png" if left == 0 else f"/hops/{left - 1}"
            self._redirect(target)
        elif path == "/to":
            self._redirect(query.replace("PORT", str(port)))
        else:
            self._send(404, b"missing")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """A guard for this sandbox: the engine may only ever connect to 127.0.0.1 here."""
    real = socket.create_connection

    def guarded(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        if not ipaddress.ip_address(address[0]).is_loopback:
            raise AssertionError(f"the engine tried to connect to {address}")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(urlfetch.socket, "create_connection", guarded)


@pytest.fixture
def private(settings: Any) -> None:
    settings.ENGINE_URL_FETCH_PRIVATE = True


def add_url(app: App, url: str, service: str = "similar") -> dict[str, Any]:
    return app.call(service, "add", {"url": url, "brief": "from url"})


def test_private_targets_are_refused_by_default(app: App, server: str) -> None:
    for url in (
        f"{server}/img.png",
        server.replace("127.0.0.1", "localhost") + "/img.png",
        "http://10.1.2.3/img.png",
        "http://192.168.1.1/",
        "http://172.16.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[fe80::1]/",
        "http://224.0.0.1/",
        "http://100.64.0.1/",
        "https://127.0.0.1/",
    ):
        assert_error(add_url(app, url), 282113, "url response invalid")


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.31.255.255", False),
        ("192.168.0.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),  # noqa: S104 - an address to refuse, not a bind
        ("255.255.255.255", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("::ffff:10.0.0.1", False),
        ("64:ff9b::a00:1", False),  # NAT64 of 10.0.0.1
    ],
)
def test_address_vetting(address: str, allowed: bool) -> None:
    assert fetch.is_allowed(ipaddress.ip_address(address)) is allowed


def test_fetch_from_an_allowed_private_host(app: App, server: str, private: None) -> None:
    body = add_url(app, f"{server}/img.png")
    assert body["cont_sign"] == params.cont_sign_of(IMAGE)
    found = app.call("similar", "search", {"url": f"{server}/img.png"})
    assert found["result"][0]["score"] == 1.0
    assert set(app.call("similar", "update", {"url": f"{server}/img.png", "brief": "b"})) == {
        "log_id"
    }
    assert set(app.call("similar", "delete", {"url": f"{server}/img.png"})) == {"log_id"}


def test_redirects_are_followed_up_to_five(app: App, server: str, private: None) -> None:
    # /hops/N answers with N + 1 redirects before the image.
    assert "cont_sign" in add_url(app, f"{server}/hops/4")
    assert_error(add_url(app, f"{server}/hops/5"), 282113, "url response invalid")


def test_redirects_to_private_addresses_are_refused(
    app: App, server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Treat 127.0.0.1 as if it were a public host; every other private address stays refused.
    vet = fetch.is_allowed
    monkeypatch.setattr(fetch, "is_allowed", lambda ip: str(ip) == "127.0.0.1" or vet(ip))
    assert "cont_sign" in add_url(app, f"{server}/to?/img.png")
    for target in (
        "http://10.0.0.1/img.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.2:PORT/img.png",
        "http://[::1]:PORT/img.png",
        "file:///etc/passwd",
        "gopher://127.0.0.1:PORT/",
    ):
        assert_error(add_url(app, f"{server}/to?{target}"), 282113, "url response invalid")


def test_bodies_over_3mib_are_216202(app: App, server: str, private: None) -> None:
    assert_error(add_url(app, f"{server}/big"), 216202, "image size error")
    assert_error(add_url(app, f"{server}/big-chunked"), 216202, "image size error")


def test_timeout_is_282112(
    app: App, server: str, private: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(urlfetch, "TIMEOUT", 1.0)
    started = time.monotonic()
    assert_error(add_url(app, f"{server}/slow"), 282112, "url download timeout")
    assert time.monotonic() - started < 2.0


def test_unreachable_or_failing_urls_are_282113(app: App, server: str, private: None) -> None:
    assert_error(add_url(app, f"{server}/missing"), 282113, "url response invalid")
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    assert_error(add_url(app, f"http://127.0.0.1:{closed}/"), 282113, "url response invalid")
    assert_error(add_url(app, "http://no-such-host.invalid/x.png"), 282113, "url response invalid")


def test_fetched_bytes_go_through_the_image_checks(app: App, server: str, private: None) -> None:
    assert_error(add_url(app, f"{server}/empty"), 216200, "empty image")
    assert_error(add_url(app, f"{server}/text"), 216201, "image format error")


def test_fetching_disabled_is_282113(app: App, server: str, settings: Any) -> None:
    settings.ENGINE_URL_FETCH = False
    settings.ENGINE_URL_FETCH_PRIVATE = True
    assert_error(add_url(app, f"{server}/img.png"), 282113, "url response invalid")


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/a.png",
        "http://",
        "http:///path",
        "/relative/a.png",
        "example.com/a.png",
        "http://exa mple.com/a.png",
        "http://example.com:99999/a.png",
        "javascript:alert(1)",
    ],
)
def test_malformed_urls_are_282111(app: App, url: str) -> None:
    assert_error(add_url(app, url), 282111, "url format illegal")


def test_url_length(app: App) -> None:
    assert_error(add_url(app, "http://x/" + "a" * 1016), 282114, "url size error")  # 1025 bytes
    assert_error(add_url(app, "http://x/" + "字" * 339), 282114, "url size error")  # 1026 bytes
