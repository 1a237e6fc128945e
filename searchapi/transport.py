"""A requests session that connects only to addresses a policy allows.

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
