"""QPS per application per interface over a sliding one-second window (baidu-wire §9).

The count must hold across every engine process, so it lives outside the process:

* with Redis as the Django cache (REDIS_URL), a sorted set per key updated by one Lua script,
  atomic across processes and hosts, timed by the Redis server's clock;
* otherwise in small files under DATA_DIR/engine/qps, one per key, updated under an exclusive
  `flock`, which serialises all processes of one host (the embedded deployment).

Both keep the admission times of the last second; a call is admitted if fewer than `limit`
were admitted in the preceding second. Refused calls are not recorded. While Redis cannot be
reached the window cannot be read, and `admit` raises `Unavailable` (baidu-wire §9).
"""

from __future__ import annotations

import fcntl
import os
import struct
import time
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

WINDOW = 1.0

_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 1000000)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('PEXPIRE', KEYS[1], 2000)
return 1
"""


class Unavailable(Exception):
    """The shared window cannot be read: the call can be neither admitted nor refused."""


def admit(key: str, limit: int) -> bool:
    """Record one call for `key` and say whether it is within `limit` per second (0 = off).

    Raises Unavailable while the window's store cannot be reached.
    """
    if limit <= 0:
        return True
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        return _admit_redis(backend, key, limit)
    return _admit_file(key, limit)


def _admit_redis(backend: Any, key: str, limit: int) -> bool:
    try:
        client = backend._cache.get_client(key, write=True)
        result = client.eval(_LUA, 1, f"tuku:engine:qps:{key}", limit, uuid.uuid4().hex)
    except (RedisConnectionError, RedisTimeoutError) as exc:
        raise Unavailable(str(exc)) from exc
    return bool(int(result))


def _admit_file(key: str, limit: int) -> bool:
    folder = Path(settings.DATA_DIR) / "engine" / "qps"
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / key, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        now = time.time()
        data = os.pread(fd, 8 * limit + 8 * 64, 0)
        stamps = [t for (t,) in struct.iter_unpack("<d", data[: len(data) // 8 * 8])]
        recent = [t for t in stamps if now - t < WINDOW and t <= now + WINDOW]
        admitted = len(recent) < limit
        if admitted:
            recent.append(now)
        recent = recent[-limit:]
        payload = struct.pack(f"<{len(recent)}d", *recent)
        os.pwrite(fd, payload, 0)
        os.ftruncate(fd, len(payload))
        return admitted
    finally:
        os.close(fd)  # closing releases the lock
