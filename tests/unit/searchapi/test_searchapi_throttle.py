"""Rate limiters: slot arithmetic with a fake clock, sharing across processes and hosts for real."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import struct
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from searchapi.throttle import FileRateLimiter, MemoryRateLimiter, RateLimiter, RedisRateLimiter


class FakeTime:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        # Records the wait without passing time, so that callers queue up as if concurrent.
        self.sleeps.append(round(seconds, 9))


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


LIMITERS: dict[str, Callable[[FakeTime, Path], RateLimiter]] = {
    "memory": lambda t, _: MemoryRateLimiter(clock=t.clock, sleep=t.sleep),
    "file": lambda t, d: FileRateLimiter(d, clock=t.clock, sleep=t.sleep),
}


@pytest.fixture(params=sorted(LIMITERS))
def limiter(request: pytest.FixtureRequest, fake_time: FakeTime, tmp_path: Path) -> RateLimiter:
    return LIMITERS[request.param](fake_time, tmp_path)


def test_concurrent_callers_get_consecutive_slots(
    limiter: RateLimiter, fake_time: FakeTime
) -> None:
    for _ in range(4):
        limiter.acquire("app", 4)
    assert fake_time.sleeps == [0.25, 0.5, 0.75]


def test_a_caller_after_an_idle_period_does_not_wait(
    limiter: RateLimiter, fake_time: FakeTime
) -> None:
    limiter.acquire("app", 2)
    limiter.acquire("app", 2)
    fake_time.now += 1.5
    limiter.acquire("app", 2)  # the next free slot (now - 0.5) has passed: no wait
    fake_time.now += 0.2
    limiter.acquire("app", 2)
    assert fake_time.sleeps == [0.5, 0.3]


def test_keys_have_separate_budgets(limiter: RateLimiter, fake_time: FakeTime) -> None:
    limiter.acquire("app-1", 1)
    limiter.acquire("app-2", 1)
    limiter.acquire("app-1", 1)
    assert fake_time.sleeps == [1.0]


def test_qps_zero_is_unlimited(limiter: RateLimiter, fake_time: FakeTime) -> None:
    for _ in range(5):
        limiter.acquire("app", 0)
    limiter.acquire("app", 1)
    assert fake_time.sleeps == []


def test_negative_qps_is_refused(limiter: RateLimiter) -> None:
    with pytest.raises(ValueError, match="qps"):
        limiter.acquire("app", -1)


def test_file_limiters_on_one_directory_share_slots(fake_time: FakeTime, tmp_path: Path) -> None:
    first = FileRateLimiter(tmp_path / "q", clock=fake_time.clock, sleep=fake_time.sleep)
    second = FileRateLimiter(tmp_path / "q", clock=fake_time.clock, sleep=fake_time.sleep)
    first.acquire("tuku-app-1/x", 10)
    second.acquire("tuku-app-1/x", 10)
    first.acquire("tuku-app-1/x", 10)
    assert fake_time.sleeps == [0.1, 0.2]
    assert len(list((tmp_path / "q").iterdir())) == 1


def test_file_limiter_ignores_a_reservation_from_a_clock_that_stepped_back(
    fake_time: FakeTime, tmp_path: Path
) -> None:
    limiter = FileRateLimiter(tmp_path, clock=fake_time.clock, sleep=fake_time.sleep)
    limiter.acquire("app", 1)
    (slot,) = tmp_path.iterdir()
    slot.write_bytes(struct.pack("<d", fake_time.now + 3600))
    limiter.acquire("app", 1)
    slot.write_bytes(b"junk")
    limiter.acquire("app", 1)
    assert fake_time.sleeps == []


def _take_slots(directory: Path, count: int, qps: int, queue: multiprocessing.Queue) -> None:
    limiter = FileRateLimiter(directory)
    times = []
    for _ in range(count):
        limiter.acquire("shared-app", qps)
        times.append(time.time())
    queue.put(times)


def test_file_limiter_spaces_calls_from_two_processes(tmp_path: Path) -> None:
    qps, per_process = 20, 4
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [
        context.Process(target=_take_slots, args=(tmp_path, per_process, qps, queue))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    times = sorted(queue.get(timeout=10) + queue.get(timeout=10))
    for worker in workers:
        worker.join(timeout=10)
        assert worker.exitcode == 0

    # Eight slots 50 ms apart; two unshared limiters would finish in half the time.
    assert times[-1] - times[0] >= 7 / qps - 0.01
    assert min(b - a for a, b in itertools.pairwise(times)) >= 1 / qps - 0.02


def _reserve_frozen(directory: Path, count: int, queue: multiprocessing.Queue) -> None:
    waits: list[float] = []
    limiter = FileRateLimiter(directory, clock=lambda: 1000.0, sleep=waits.append)
    for _ in range(count):
        limiter.acquire("shared-app", 1000)
    queue.put(waits)


def test_file_limiter_reservations_from_racing_processes_never_collide(tmp_path: Path) -> None:
    # The clock stands still and nobody sleeps, so both processes hammer the file; without the
    # lock, two of them would read the same next slot and reserve it twice.
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [
        context.Process(target=_reserve_frozen, args=(tmp_path, 500, queue)) for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    waits = queue.get(timeout=10) + queue.get(timeout=10)
    for worker in workers:
        worker.join(timeout=10)

    assert sorted(round(w * 1000) for w in waits) == list(range(1, 1000))


@pytest.fixture
def redis_client() -> redis.Redis:
    client = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("no Redis server reachable at REDIS_URL")
    return client


@pytest.mark.integration
def test_redis_limiters_share_slots_through_the_server(redis_client: redis.Redis) -> None:
    prefix = f"test:qps:{uuid.uuid4().hex}:"
    waits: list[float] = []
    first = RedisRateLimiter(redis_client, prefix=prefix, sleep=waits.append)
    second = RedisRateLimiter(
        os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), prefix=prefix, sleep=waits.append
    )
    try:
        for limiter in (first, second, first, second):
            limiter.acquire("app", 4)
        first.acquire("other-app", 4)
        first.acquire("app", 0)

        # No real sleeping, so each caller reserves the slot after the previous one.
        assert len(waits) == 3
        for wait, expected in zip(waits, (0.25, 0.5, 0.75), strict=True):
            assert expected - 0.05 <= wait <= expected
        ttl_ms = redis_client.pttl(prefix + "app")
        assert 1000 < ttl_ms <= 2000  # the reservation outlives its slot, then disappears
    finally:
        redis_client.delete(prefix + "app", prefix + "other-app")


@pytest.mark.integration
def test_redis_limiter_really_waits(redis_client: redis.Redis) -> None:
    prefix = f"test:qps:{uuid.uuid4().hex}:"
    limiter = RedisRateLimiter(redis_client, prefix=prefix)
    try:
        started = time.monotonic()
        for _ in range(4):
            limiter.acquire("app", 20)
        assert time.monotonic() - started >= 3 / 20 - 0.01
    finally:
        redis_client.delete(prefix + "app")
