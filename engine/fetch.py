"""Fetching `url` images without becoming a proxy into the private network (spec §5.2).

Every hop (the URL and each redirect) is resolved once, every address is vetted, and the
connection goes to a vetted address with the original name only in `Host` and TLS SNI, so a
DNS answer that changes between the check and the connect (rebinding) cannot redirect it.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from urllib.parse import quote, urljoin, urlsplit

from django.conf import settings

from engine.errors import WireError
from engine.params import MAX_IMAGE_BYTES, MAX_URL_BYTES

MAX_REDIRECTS = 5
TIMEOUT = 10.0  # seconds for the whole fetch, redirects included
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CHUNK = 64 * 1024
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# getaddrinfo() has no timeout of its own; it runs here so the caller can stop waiting.
_resolver = ThreadPoolExecutor(max_workers=4, thread_name_prefix="engine-dns")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class _Target:
    def __init__(self, url: str, *, redirected: bool) -> None:
        # A bad user URL is 282111; a bad redirect target is the server's fault: 282113.
        bad = WireError(282113 if redirected else 282111)
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
    """The checks before any fetch: 282114 (length), then 282111 (format)."""
    if not 1 <= len(url.encode()) <= MAX_URL_BYTES:
        raise WireError(282114)
    _Target(url, redirected=False)


def fetch(url: str) -> bytes:
    """GET the image: 282112 on timeout, 282113 if unreachable or refused, 216202 if large."""
    if not settings.ENGINE_URL_FETCH:
        raise WireError(282113)
    deadline = time.monotonic() + TIMEOUT
    for hop in range(MAX_REDIRECTS + 1):
        target = _Target(url, redirected=hop > 0)
        status, location, body = _get(target, deadline)
        if status in REDIRECT_STATUSES and location:
            url = urljoin(url, location)
            continue
        if not 200 <= status < 300 or body is None:
            raise WireError(282113)
        return body
    raise WireError(282113)  # too many redirects


def is_allowed(ip: Address) -> bool:
    """Public unicast only, unless the operator allows private targets."""
    if settings.ENGINE_URL_FETCH_PRIVATE:
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.is_global and not ip.is_multicast


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise WireError(282112)
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
        raise WireError(282112) from None
    except OSError:
        raise WireError(282113) from None
    addresses: list[Address] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def _connect(target: _Target, deadline: float) -> tuple[http.client.HTTPConnection, socket.socket]:
    addresses = _resolve(target, deadline)
    allowed = [a for a in addresses if is_allowed(a)]
    if not allowed:
        raise WireError(282113)
    last: OSError | None = None
    for address in allowed:
        try:
            sock = socket.create_connection((str(address), target.port), _remaining(deadline))
        except TimeoutError:
            raise WireError(282112) from None
        except OSError as exc:
            last = exc
            continue
        conn: http.client.HTTPConnection
        if target.tls:
            context = ssl.create_default_context()
            try:
                sock = context.wrap_socket(sock, server_hostname=target.host)
            except TimeoutError:
                sock.close()
                raise WireError(282112) from None
            except OSError:
                sock.close()
                raise WireError(282113) from None
            conn = http.client.HTTPSConnection(target.host, target.port, context=context)
        else:
            conn = http.client.HTTPConnection(target.host, target.port)
        conn.sock = sock  # already connected to the vetted address; no second lookup
        return conn, sock
    raise WireError(282113) from last


def _get(target: _Target, deadline: float) -> tuple[int, str | None, bytes | None]:
    # http.client drops conn.sock once a response says it will close; keep our own handle
    # to bound every read by the overall deadline.
    conn, sock = _connect(target, deadline)
    try:
        sock.settimeout(_remaining(deadline))
        conn.putrequest("GET", target.target, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", target.host_header)
        conn.putheader("User-Agent", "Tuku-engine/1")
        conn.putheader("Accept", "image/*,*/*;q=0.8")
        conn.endheaders()
        response = conn.getresponse()
        if response.status in REDIRECT_STATUSES:
            return response.status, response.getheader("Location"), None
        if not 200 <= response.status < 300:
            return response.status, None, None
        length = response.getheader("Content-Length")
        if length is not None and length.strip().isdigit() and int(length) > MAX_IMAGE_BYTES:
            raise WireError(216202)
        chunks: list[bytes] = []
        size = 0
        while True:
            sock.settimeout(_remaining(deadline))
            chunk = response.read1(CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_IMAGE_BYTES:
                raise WireError(216202)  # stop downloading at once
            chunks.append(chunk)
        return response.status, None, b"".join(chunks)
    except TimeoutError:
        raise WireError(282112) from None
    except (OSError, http.client.HTTPException):
        raise WireError(282113) from None
    finally:
        conn.close()
