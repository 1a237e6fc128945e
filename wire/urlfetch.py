"""Downloading an image from a URL someone gave, without becoming a proxy into private networks.

Used by the engine (`url` parameters, baidu-wire §5.2) and by the console (upload by URL). Every
hop (the URL and each redirect) is resolved once and every address vetted by the caller's
policy; the connection goes to a vetted address with the name only in `Host` and TLS SNI, so a
DNS answer that changes between check and connect (rebinding) cannot redirect it. At most
3 MiB, 5 redirects and 10 seconds in all.

Failures raise :class:`FetchError` with the wire code the hosted service uses: 282111 bad URL,
282112 timeout, 282113 unreachable or refused, 282114 empty or too long, 216202 too large.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import quote, unquote, urljoin, urlsplit

from wire.baidu import MAX_IMAGE_BYTES, MAX_URL_BYTES, MESSAGES

MAX_REDIRECTS = 5
TIMEOUT = 10.0  # seconds for the whole download, redirects included
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CHUNK = 64 * 1024
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# getaddrinfo() has no timeout of its own; it runs here so the caller can stop waiting.
_resolver = ThreadPoolExecutor(max_workers=4, thread_name_prefix="urlfetch-dns")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Policy = Callable[[Address], bool]


class FetchError(Exception):
    """The download failed. `code` and `error_msg` are the wire's; `detail` says why in words."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"{code} {detail}")
        self.code = code
        self.error_msg = MESSAGES[code]
        self.detail = detail


@dataclass(frozen=True)
class Fetched:
    data: bytes
    filename: str  # the last path segment of the final URL
    url: str


def is_public(ip: Address) -> bool:
    """Public unicast only: no private, loopback, link-local, multicast or reserved address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.is_global and not ip.is_multicast


class _Target:
    def __init__(self, url: str, *, redirected: bool) -> None:
        # A bad user URL is 282111; a bad redirect target is the server's fault: 282113.
        code = 282113 if redirected else 282111
        bad = FetchError(code, "The address is not a valid http:// or https:// URL.")
        if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
            raise bad
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise bad
        try:
            self.port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
            self.host = parts.hostname.encode("idna").decode("ascii")
        except (ValueError, UnicodeError):
            raise bad from None
        self.url = url
        self.tls = parts.scheme.lower() == "https"
        path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
        query = quote(parts.query, safe="/?%:@!$&'()*+,;=-._~")
        self.target = path + (f"?{query}" if parts.query else "")
        literal = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.tls else 80
        self.host_header = literal if self.port == default else f"{literal}:{self.port}"


def check(url: str) -> None:
    """The checks before any download: 282114 (length), then 282111 (format)."""
    if not 1 <= len(url.encode()) <= MAX_URL_BYTES:
        raise FetchError(282114, "The URL is empty or longer than 1024 bytes.")
    _Target(url, redirected=False)


def resolve(url: str) -> list[Address]:
    """Every address the host of `url` resolves to (a literal address is itself).

    Raises FetchError 282111 for a URL that is not http(s), 282113 for a name that does not
    resolve, 282112 when resolving takes longer than the download would be given."""
    return _resolve(_Target(url, redirected=False), time.monotonic() + TIMEOUT)


def fetch(url: str, *, allowed: Policy = is_public, agent: str = "Tuku/1") -> Fetched:
    """GET the image at `url`, connecting only to addresses `allowed` accepts; raise FetchError."""
    check(url)
    deadline = time.monotonic() + TIMEOUT
    for hop in range(MAX_REDIRECTS + 1):
        target = _Target(url, redirected=hop > 0)
        status, location, body = _get(target, deadline, allowed, agent)
        if status in REDIRECT_STATUSES and location:
            url = urljoin(url, location)
            continue
        if not 200 <= status < 300 or body is None:
            raise FetchError(282113, f"The server answered HTTP {status}.")
        return Fetched(body, _filename(url), url)
    raise FetchError(282113, "Too many redirects.")


def _filename(url: str) -> str:
    name = PurePosixPath(unquote(urlsplit(url).path)).name
    return name or urlsplit(url).hostname or "image"


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise FetchError(282112, "The download took longer than 10 seconds.")
    return left


def _resolve(target: _Target, deadline: float) -> list[Address]:
    try:
        return [ipaddress.ip_address(target.host)]
    except ValueError:
        pass
    future = _resolver.submit(socket.getaddrinfo, target.host, target.port, 0, socket.SOCK_STREAM)
    try:
        infos = future.result(timeout=_remaining(deadline))
    except FutureTimeout:
        raise FetchError(282112, "The host name did not resolve in time.") from None
    except OSError:
        raise FetchError(282113, "The host name does not resolve.") from None
    addresses: list[Address] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def _connect(
    target: _Target, deadline: float, allowed: Policy
) -> tuple[http.client.HTTPConnection, socket.socket]:
    vetted = [a for a in _resolve(target, deadline) if allowed(a)]
    if not vetted:
        raise FetchError(
            282113, "The address is private, loopback or link-local; it is not fetched."
        )
    for address in vetted:
        try:
            sock = socket.create_connection((str(address), target.port), _remaining(deadline))
        except TimeoutError:
            raise FetchError(282112, "The connection timed out.") from None
        except OSError:
            continue
        conn: http.client.HTTPConnection
        if target.tls:
            context = ssl.create_default_context()
            try:
                sock = context.wrap_socket(sock, server_hostname=target.host)
            except TimeoutError:
                sock.close()
                raise FetchError(282112, "The TLS handshake timed out.") from None
            except OSError:
                sock.close()
                raise FetchError(282113, "The TLS handshake failed.") from None
            conn = http.client.HTTPSConnection(target.host, target.port, context=context)
        else:
            conn = http.client.HTTPConnection(target.host, target.port)
        conn.sock = sock  # already connected to the vetted address; no second lookup
        return conn, sock
    raise FetchError(282113, "The server refused the connection.")


def _too_large() -> FetchError:
    return FetchError(216202, "The file is larger than 3 MiB.")


def _get(
    target: _Target, deadline: float, allowed: Policy, agent: str
) -> tuple[int, str | None, bytes | None]:
    conn, sock = _connect(target, deadline, allowed)
    try:
        sock.settimeout(_remaining(deadline))
        conn.putrequest("GET", target.target, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", target.host_header)
        conn.putheader("User-Agent", agent)
        conn.putheader("Accept", "image/*,*/*;q=0.8")
        conn.endheaders()
        response = conn.getresponse()
        if response.status in REDIRECT_STATUSES:
            return response.status, response.getheader("Location"), None
        if not 200 <= response.status < 300:
            return response.status, None, None
        length = response.getheader("Content-Length")
        if length is not None and length.strip().isdigit() and int(length) > MAX_IMAGE_BYTES:
            raise _too_large()
        chunks: list[bytes] = []
        size = 0
        while True:
            sock.settimeout(_remaining(deadline))
            chunk = response.read1(CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_IMAGE_BYTES:
                raise _too_large()  # stop downloading at once
            chunks.append(chunk)
        return response.status, None, b"".join(chunks)
    except TimeoutError:
        raise FetchError(282112, "The download timed out.") from None
    except (OSError, http.client.HTTPException):
        raise FetchError(282113, "The connection failed during the download.") from None
    finally:
        conn.close()
