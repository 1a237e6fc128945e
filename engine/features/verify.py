"""Geometric verification of a shortlist on every core (same_hq, picturebook).

A shortlist of 40 candidates costs ~1 ms of ORB matching and RANSAC each; OpenCV releases
the GIL in those calls, so one process-wide pool of ``cpu_count`` threads verifies the
candidates side by side. The calling thread works through the same list as its helpers, so a
query always progresses even when every pool thread is busy with other queries (or, after a
fork, when the pool has no threads), and a one-candidate shortlist never waits for a thread.

Per candidate the outcome is exactly the sequential one: inliers of the plain query
keypoints, and only when those are below ``CONCLUSIVE_INLIERS``, the better of those and the
mirror image's (``local.MirrorQuery``). The mirror image's keypoints are detected when the
first candidate turns out to need them, as a job at the head of the queue, so the detection
overlaps the remaining plain matches; a shortlist whose candidates are all conclusive never
pays for it.
"""

from __future__ import annotations

import os
import struct
import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from engine.features import local as lf

# A plain match this strong is final: the mirror image is not tried (its score would be at
# least verified_score(60) = 0.76 either way).
CONCLUSIVE_INLIERS = 4 * lf.MIN_INLIERS


@dataclass(frozen=True)
class Verdict:
    """One candidate: its parsed keypoints (None: no blob, or another FEATURES_VERSION's)
    and the inliers of its best plausible mapping (0 if none)."""

    entry: lf.Keypoints | None
    inliers: int


def workers() -> int:
    """Threads that verify one shortlist: the CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def pool() -> ThreadPoolExecutor:
    """The process-wide pool of ``workers()`` threads (created on first use)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=workers(), thread_name_prefix="tuku-verify")
        return _pool


def _forget_pool() -> None:
    # A forked child (gunicorn worker) inherits the executor but not its threads.
    global _pool, _pool_lock
    _pool = None
    _pool_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_pool)


def verify(
    query: lf.Keypoints,
    mirror: lf.MirrorQuery | None,
    blobs: Sequence[bytes | None],
    *,
    threads: int | None = None,
) -> list[Verdict]:
    """Verdicts for ``blobs`` (stored local blobs, in order) against the query's keypoints
    and, where the plain match is not conclusive, its mirror image's.

    ``threads`` (default ``workers()``) is how many threads work on this shortlist, the
    caller's included; 1 verifies in the calling thread only. The result does not depend
    on it. An exception raised by any candidate's verification is raised here.
    """
    job = _Job(lf.QueryMatcher(query), mirror, blobs)
    helpers = min(threads or workers(), len(blobs)) - 1
    if helpers > 0:
        executor = pool()
        for _ in range(helpers):
            executor.submit(job.work)
    job.work(until_done=True)
    return job.result()


class _Job:
    """The work list of one shortlist, drained by the caller and the pool's helpers.

    Items: ("plain", i) for every candidate, then ("mirror", i) for each one whose plain
    match is not conclusive, and once ("detect", -1) at the head of the list when the first
    such candidate appears. A "mirror" item is always queued behind the "detect" item,
    which is taken first and waits for nothing, so waiting for the mirror matcher ends.
    """

    def __init__(
        self, plain: lf.QueryMatcher, mirror: lf.MirrorQuery | None, blobs: Sequence[bytes | None]
    ) -> None:
        self._plain = plain
        self._mirror = mirror
        self._blobs = blobs
        n = len(blobs)
        self._entries: list[lf.Keypoints | None] = [None] * n
        self._inliers = [0] * n
        self._todo: deque[tuple[str, int]] = deque(("plain", i) for i in range(n))
        self._open = n  # items queued or running
        self._cond = threading.Condition()
        self._mirror_matcher: lf.QueryMatcher | None = None
        self._mirror_ready = threading.Event()
        self._detect_queued = False
        self._error: BaseException | None = None

    def work(self, *, until_done: bool = False) -> None:
        """Run items until the list is empty; ``until_done`` (the caller): until every
        item has finished, taking the items that running ones still add."""
        while True:
            with self._cond:
                while not self._todo:
                    if not until_done or not self._open:
                        return
                    self._cond.wait()
                kind, i = self._todo.popleft()
            try:
                self._run(kind, i)
            except BaseException as exc:  # re-raised in the caller by result()
                with self._cond:
                    self._error = self._error or exc
                if kind == "detect":
                    self._mirror_ready.set()
            finally:
                with self._cond:
                    self._open -= 1
                    self._cond.notify_all()

    def _run(self, kind: str, i: int) -> None:
        if kind == "plain":
            blob = self._blobs[i]
            if blob is None:
                return
            try:
                entry = lf.parse(blob)
            except (ValueError, struct.error):
                return  # written by another FEATURES_VERSION; re-extraction will fix it
            self._entries[i] = entry
            n = self._plain.inliers(entry)
            self._inliers[i] = n
            if n < CONCLUSIVE_INLIERS and self._mirror is not None:
                with self._cond:
                    if not self._detect_queued:
                        self._detect_queued = True
                        self._todo.appendleft(("detect", -1))
                        self._open += 1
                    self._todo.append(("mirror", i))
                    self._open += 1
                    self._cond.notify_all()
        elif kind == "detect":
            assert self._mirror is not None
            self._mirror_matcher = lf.QueryMatcher(lf.parse(self._mirror.blob()))
            self._mirror_ready.set()
        else:
            self._mirror_ready.wait()
            parsed = self._entries[i]
            if self._mirror_matcher is None or parsed is None:
                return  # the detection failed: its exception is already recorded
            self._inliers[i] = max(self._inliers[i], self._mirror_matcher.inliers(parsed))

    def result(self) -> list[Verdict]:
        """The verdicts, once work(until_done=True) has returned."""
        if self._error is not None:
            raise self._error
        return [Verdict(e, n) for e, n in zip(self._entries, self._inliers, strict=True)]
