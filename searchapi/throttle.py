"""Client-side QPS throttles, so that callers stay inside an application's tier instead of
collecting error 18.

Every limiter works by slot reservation: under a lock (or inside one Redis script) a caller takes
``start = max(now, next_free)`` and moves ``next_free`` on by ``1/qps``, then sleeps until
``start`` outside the lock. The lock is therefore held for microseconds, and concurrent callers
queue in arrival order instead of polling.
"""

from __future__ import annotations

import fcntl
import hashlib
import math
import os
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import redis

# A reservation further ahead than this cannot come from real callers queueing; it comes from a
# clock that stepped backwards (NTP, a restored VM) and would otherwise stall every caller.
MAX_BACKLOG_S = 60.0


class RateLimiter(Protocol):
    def acquire(self, key: str, qps: int) -> None:
        """Block until one more call for ``key`` fits into ``qps`` calls per second.

        ``qps`` 0 means unlimited and returns at once. Calls sharing a key share the budget.
        """


def _check(qps: int) -> bool:
    """Whether a limit applies; rejects negative values, which are a configuration error."""
    if qps < 0:
        raise ValueError(f"qps must be >= 0, got {qps}")
    return qps > 0


class MemoryRateLimiter:
    """Shares slots between the threads of one process."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._next_free: dict[str, float] = {}

    def acquire(self, key: str, qps: int) -> None:
        if not _check(qps):
            return
        with self._lock:
            now = self._clock()
            start = max(now, self._next_free.get(key, now))
            self._next_free[key] = start + 1 / qps
        if start > now:
            self._sleep(start - now)


class FileRateLimiter:
    """Shares slots between every process on one host through a ``flock``-ed file per key.

    The next free slot is stored as wall-clock time, the one clock all processes agree on.
    """

    def __init__(
        self,
        directory: Path,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._directory, self._clock, self._sleep = directory, clock, sleep
        directory.mkdir(parents=True, exist_ok=True)

    def acquire(self, key: str, qps: int) -> None:
        if not _check(qps):
            return
        # Hashing keeps arbitrary keys (slashes, dots) out of the file system's way.
        path = self._directory / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.qps"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = os.pread(fd, 8, 0)
            now = self._clock()
            next_free = struct.unpack("<d", raw)[0] if len(raw) == 8 else now
            if not now <= next_free <= now + MAX_BACKLOG_S:
                next_free = now
            start = next_free
            os.pwrite(fd, struct.pack("<d", start + 1 / qps), 0)
        finally:
            os.close(fd)  # closing the descriptor releases the lock
        if start > now:
            self._sleep(start - now)


# Redis' own clock is the one every host agrees on; times are integer microseconds so that they
# survive Lua's number-to-string conversion exactly.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local next_free = tonumber(redis.call('GET', KEYS[1]) or '0')
if next_free < now or next_free > now + tonumber(ARGV[2]) then next_free = now end
local until_ = next_free + tonumber(ARGV[1])
local ttl_ms = math.ceil((until_ - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.0f', until_), 'PX', ttl_ms)
return next_free - now
"""


class RedisRateLimiter:
    """Shares slots between every process on every host that uses the same Redis."""

    def __init__(
        self,
        url_or_client: str | redis.Redis,
        *,
        prefix: str = "tuku:qps:",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        client = (
            redis.Redis.from_url(url_or_client) if isinstance(url_or_client, str) else url_or_client
        )
        self._reserve = client.register_script(_RESERVE)
        self._prefix, self._sleep = prefix, sleep

    def acquire(self, key: str, qps: int) -> None:
        if not _check(qps):
            return
        interval_us = math.ceil(1_000_000 / qps)
        wait_us = int(
            self._reserve(keys=[self._prefix + key], args=[interval_us, int(MAX_BACKLOG_S * 1e6)])
        )
        if wait_us > 0:
            self._sleep(wait_us / 1_000_000)
