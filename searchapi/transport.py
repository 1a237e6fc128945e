"""A requests session that connects only to addresses a policy allows, and what a failed
exchange tells the user.

The check is made on the connected socket's peer address, not on a name looked up beforehand,
so a DNS answer that changes between a form's check and a later call (rebinding) cannot reach a
private address either. Calls through an HTTP proxy connect to the proxy, which the operator
chose; only the name check before saving covers them.
"""

from __future__ import annotations

import ipaddress
import socket
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

from wire.urlfetch import Policy


def _checked(conn: Any, sock: socket.socket, allowed: Policy) -> socket.socket:
    peer = ipaddress.ip_address(str(sock.getpeername()[0]).split("%")[0])
    if not allowed(peer):
        sock.close()
        raise NewConnectionError(conn, f"refused to connect to the non-public address {peer}")
    return sock


@cache
def _adapter_class(allowed: Policy) -> type[HTTPAdapter]:
    """One adapter class per policy, made once: its pools make checked connections."""

    class Checked(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            return _checked(self, super()._new_conn(), allowed)

    class CheckedTls(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            return _checked(self, super()._new_conn(), allowed)

    class Pool(HTTPConnectionPool):
        ConnectionCls = Checked

    class TlsPool(HTTPSConnectionPool):
        ConnectionCls = CheckedTls

    class Adapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": Pool, "https": TlsPool}

    return Adapter


def vetted_session(allowed: Policy) -> requests.Session:
    """A session whose direct connections go only to addresses `allowed` accepts."""
    session = requests.Session()
    adapter = _adapter_class(allowed)()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


_NON_PUBLIC = "refused to connect to the non-public address"
# Words of the exception chains of requests and urllib3, and what each means to a user.
_REASONS = (
    (_NON_PUBLIC, None),  # our own words: shown as they are
    ("Name or service not known", "the host name does not resolve"),
    ("NameResolutionError", "the host name does not resolve"),
    ("Temporary failure in name resolution", "the host name does not resolve"),
    ("Connection refused", "the server refused the connection"),
    ("Network is unreachable", "the network is unreachable"),
    ("No route to host", "there is no route to the host"),
    ("RemoteDisconnected", "the server closed the connection without answering"),
    ("Connection reset by peer", "the server reset the connection"),
)


def failure_text(exc: requests.RequestException) -> str:
    """What went wrong, in words, and where: the scheme, host and port only. Never the path or
    the query, which carry keys and tokens, nor the raw exception (logs have that)."""
    request = exc.request
    url = urlsplit(str(request.url)) if request is not None and request.url else None
    where = f" ({url.scheme}://{url.netloc.rpartition('@')[2]})" if url and url.netloc else ""
    text = str(exc)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return f"Timed out while connecting{where}."
    if isinstance(exc, requests.Timeout):
        return f"No answer in time{where}."
    if isinstance(exc, requests.exceptions.SSLError):
        return f"The TLS handshake or the server's certificate failed{where}."
    if isinstance(exc, requests.exceptions.ProxyError):
        return f"The HTTP proxy refused the connection{where}."
    for words, meaning in _REASONS:
        if words in text:
            if meaning is None:
                address = text.split(_NON_PUBLIC, 1)[1].split()[0].strip("'\")")
                return f"Refused to connect to the non-public address {address}{where}."
            return f"{meaning[0].upper()}{meaning[1:]}{where}."
    return f"The connection failed ({type(exc).__name__}){where}."
