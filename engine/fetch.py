"""Fetching `url` images for the wire (baidu-wire §5.2), through the shared safe downloader."""

from __future__ import annotations

from django.conf import settings

from engine.errors import WireError
from wire import urlfetch
from wire.urlfetch import Address


def is_allowed(ip: Address) -> bool:
    """Public unicast only, unless the operator allows private targets."""
    return settings.ENGINE_URL_FETCH_PRIVATE or urlfetch.is_public(ip)


def check(url: str) -> None:
    """The checks before any fetch: 282114 (length), then 282111 (format)."""
    try:
        urlfetch.check(url)
    except urlfetch.FetchError as exc:
        raise WireError(exc.code) from None


def fetch(url: str) -> bytes:
    """GET the image: 282112 on timeout, 282113 if unreachable or refused, 216202 if large."""
    if not settings.ENGINE_URL_FETCH:
        raise WireError(282113)
    try:
        # Looked up at call time, so the policy can be replaced as a whole (tests do).
        return urlfetch.fetch(url, allowed=lambda ip: is_allowed(ip), agent="Tuku-engine/1").data
    except urlfetch.FetchError as exc:
        raise WireError(exc.code) from None
