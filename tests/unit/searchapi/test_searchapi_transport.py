"""Backend calls against a real local HTTP server: connections only to allowed addresses, and
redirects never followed."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from searchapi import baidu
from searchapi.baidu import BaiduClient, BaiduError, Credentials
from searchapi.transport import failure_text, vetted_session
from wire.urlfetch import is_public

CREDS = Credentials(app_id="8574074", api_key="my-api-key", secret_key="my-secret-key")


class Server:
    def __init__(self) -> None:
        self.paths: list[str] = []
        paths = self.paths

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self.do_POST()

            def do_POST(self) -> None:
                paths.append(self.path)
                if self.path.startswith("/oauth/2.0/token"):
                    self.send_response(302)
                    self.send_header("Location", "http://127.0.0.1:9/internal")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = json.dumps({"log_id": 1}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def server() -> Iterator[Server]:
    started = Server()
    yield started
    started.httpd.shutdown()
    started.httpd.server_close()


@pytest.fixture(autouse=True)
def _fresh_token_cache() -> Iterator[None]:
    baidu._tokens.clear()
    yield
    baidu._tokens.clear()


def test_a_vetted_session_refuses_a_private_peer(server: Server) -> None:
    with pytest.raises(requests.ConnectionError, match=r"non-public address 127\.0\.0\.1"):
        vetted_session(is_public).get(server.base + "/rest/x", timeout=5)
    assert server.paths == []  # refused before a byte was sent


def test_a_vetted_session_connects_where_the_policy_allows(server: Server) -> None:
    response = vetted_session(lambda ip: ip.is_loopback).get(server.base + "/rest/x", timeout=5)
    assert response.json() == {"log_id": 1}


def test_the_client_never_follows_a_redirect(server: Server) -> None:
    client = BaiduClient(base_url=server.base, credentials=CREDS, auth_mode="token", qps=0)
    with pytest.raises(BaiduError) as caught:
        client.fetch_token()
    assert caught.value.error_code == "redirect"
    assert caught.value.retryable is False
    assert "302" in caught.value.error_msg
    assert [path.split("?")[0] for path in server.paths] == ["/oauth/2.0/token"]


def test_a_refused_private_peer_surfaces_as_a_connection_error(server: Server) -> None:
    client = BaiduClient(
        base_url=server.base,
        credentials=CREDS,
        auth_mode="sign",
        qps=0,
        session=vetted_session(is_public),
    )
    with pytest.raises(BaiduError) as caught:
        client.delete("same_hq", cont_signs=["1,2"])
    assert caught.value.error_code == "connection"
    assert server.paths == []


def test_a_failure_is_told_in_words_with_the_origin_and_no_query(server: Server) -> None:
    secret = "/oauth/2.0/token?client_id=my-api-key&client_secret=my-secret-key"
    with pytest.raises(requests.ConnectionError) as refused:
        vetted_session(is_public).get(server.base + secret, timeout=5)
    text = failure_text(refused.value)
    assert text == f"Refused to connect to the non-public address 127.0.0.1 ({server.base})."
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()  # nothing listens there now
    with pytest.raises(requests.ConnectionError) as down:
        requests.get(closed + secret, timeout=5)
    assert failure_text(down.value) == f"The server refused the connection ({closed})."
    with pytest.raises(requests.ConnectionError) as unknown:
        requests.get("http://tuku-no-such-host.invalid" + secret, timeout=5)
    assert failure_text(unknown.value).startswith("The host name does not resolve")
    for error in (refused, down, unknown):
        assert "my-secret-key" not in failure_text(error.value)
        assert "my-api-key" not in failure_text(error.value)
