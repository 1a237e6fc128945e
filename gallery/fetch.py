"""Downloading an image the user named by URL (console §3.4), through the shared safe
downloader: the console keeps the file as the original and pushes its bytes as `image`."""

from __future__ import annotations

from django.conf import settings

from wire import urlfetch
from wire.baidu import MAX_URL_BYTES
from wire.urlfetch import Address, Fetched, FetchError

__all__ = ["MAX_URL_BYTES", "FetchError", "Fetched", "check", "fetch", "is_allowed"]


def is_allowed(ip: Address) -> bool:
    """Public unicast only, unless the operator allows private targets (as for the engine)."""
    return settings.ENGINE_URL_FETCH_PRIVATE or urlfetch.is_public(ip)


def check(url: str) -> None:
    urlfetch.check(url.strip())


def fetch(url: str) -> Fetched:
    # Looked up at call time, so the policy can be replaced as a whole (tests do).
    return urlfetch.fetch(url.strip(), allowed=lambda ip: is_allowed(ip), agent="Tuku-console/1")
