"""What every console task shares: dispatch after commit, broker outages, the retry policy, and
the lease that tells the sweeper a task is still at work on its rows.

Recovery needs no human. A task that names rows (`holds`) holds them while it works: a lease,
renewed by a heartbeat, so that the sweeper (`gallery.services.sweep`) queues them again soon
after the lease runs out (the worker died) but never while the task runs. Transient errors are
retried quickly a few times; after that the rows wait for the backend (`waits`,
`next_attempt_at`) and the sweeper sends one attempt after each wait, doubling it up to
`WAIT_MAX`. Only a permanent error is recorded as a failure.
"""

from __future__ import annotations

import logging
import random
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from celery import Task, signals
from django.db import connections, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from gallery.models import TaskState
from searchapi.errors import ApiError

log = logging.getLogger(__name__)

MAX_RETRIES = 8
MAX_BACKOFF = 120  # below the broker's visibility timeout: a waiting retry is unacknowledged
# A live task renews its lease every HEARTBEAT_SECONDS; one silent for LEASE_SECONDS is dead.
LEASE_SECONDS = 30
HEARTBEAT_SECONDS = 10
# The wait for a backend that did not answer after the fast retries: doubled after each
# attempt that still met it, 1, 2, 4, 8, then 10 minutes.
WAIT_FIRST = 60
WAIT_MAX = 600


def backoff(retries: int) -> float:
    return min(MAX_BACKOFF, 2 ** (retries + 1)) * random.uniform(0.8, 1.2)


def wait_after(waits: int) -> timedelta:
    """How long to wait once the retries have run out for the `waits`-th time in a row."""
    return timedelta(seconds=min(WAIT_MAX, WAIT_FIRST * 2 ** max(0, waits - 1)))


def wait_start(row: TaskState) -> None:
    """Count one more wait for the backend on `row` and set when the next attempt is due."""
    row.waits += 1
    row.next_attempt_at = timezone.now() + wait_after(row.waits)


def _internal(exc: Exception) -> ApiError:
    return ApiError("internal", f"{type(exc).__name__}: {exc}"[:255], retryable=True)


class ConsoleTask(Task):
    """A task that takes ids, is queued once the caller's transaction commits, and survives a
    broker outage, a dead worker and a backend that is away for a while."""

    acks_late = True
    max_retries = MAX_RETRIES
    # The model whose rows the first argument names (an id or a list of ids), if any. The task
    # holds them while it works, and marks them for the next sweep if it cannot be queued.
    holds: type[TaskState] | None = None
    # Whether a task leaves alone rows that another live task holds: for adds and jobs, where
    # running twice at once costs calls or makes duplicates (deletes and updates do no harm).
    exclusive = False

    def enqueue(self, *args: Any) -> None:
        """Queue the task once the current transaction commits (at once outside one)."""
        transaction.on_commit(lambda: self.dispatch(*args))

    def enqueue_chunks(self, ids: Sequence[int], size: int, *, now: bool = False) -> None:
        """Queue the task for `ids`, `size` of them to a message: after the current transaction
        commits, or at once (`now`, for the sweeper)."""
        for start in range(0, len(ids), size):
            chunk = list(ids[start : start + size])
            if now:
                self.dispatch(chunk)
            else:
                self.enqueue(chunk)

    def dispatch(self, *args: Any) -> None:
        """Queue the task now; if the broker is down, mark its rows due for the next sweep."""
        try:
            self.delay(*args)
        except Exception as exc:
            log.warning("could not queue %s%s (%s); the sweeper will retry", self.name, args, exc)
            held = self._held(args)
            if held is not None:
                try:
                    held.update(next_attempt_at=timezone.now())
                except Exception:
                    log.exception("could not mark %s%s for the sweeper", self.name, args)

    def run_retrying(
        self, call: Callable[[], object], on_give_up: Callable[[ApiError], object]
    ) -> None:
        """Run `call` holding the task's rows; retry transient failures with backoff, then hand
        the last one to `on_give_up` (which makes the rows wait, or records it). Rows already
        waiting for the backend get one attempt: its failure starts the next, longer wait."""
        self.run_holding(lambda _held: call(), lambda exc, _held: on_give_up(exc))

    def run_holding(
        self,
        call: Callable[[list[int]], object],
        on_give_up: Callable[[ApiError, list[int]], object],
    ) -> None:
        """`run_retrying`, where `call` and `on_give_up` get the ids of the rows this task
        holds. An exclusive task works on these only: of a list, another task may hold some."""
        lease = Lease(self._held(self.request.args or ()), self.request.id or uuid.uuid4().hex)
        held = lease.mine() if lease.take() else []
        if not held and self.exclusive:
            log.info("%s%s: held by another task, or gone", self.name, self.request.args)
            return
        try:
            with lease.kept():
                call(held)
        except Exception as exc:
            error = exc if isinstance(exc, ApiError) else None
            if error is not None and not error.retryable:
                lease.release()
                raise
            if error is None:
                # Storage or database trouble: worth a few more tries, then it is on the row.
                log.exception("%s failed", self.name)
                error = _internal(exc)
            if self.request.retries >= MAX_RETRIES or lease.waiting():
                try:
                    on_give_up(error, held)
                finally:
                    lease.release()
                return
            countdown = backoff(self.request.retries)
            # The retry waits in a worker: the lease covers the wait, so that only a worker that
            # dies with it lets the rows go to the sweeper.
            lease.extend(countdown)
            raise self.retry(countdown=countdown, exc=exc) from None
        lease.release(recovered=True)

    def _held(self, args: Sequence[Any]) -> QuerySet[Any] | None:
        if self.holds is None or not args:
            return None
        ids = args[0] if isinstance(args[0], list | tuple) else [args[0]]
        return self.holds._default_manager.filter(pk__in=ids)


class Lease:
    """A task's hold on its rows (`held`; None: it holds nothing): taken where no live task
    holds them, renewed while it works, let go when it is done."""

    def __init__(self, held: QuerySet[Any] | None, owner: str) -> None:
        self.held, self.owner = held, owner
        self.started = timezone.now()

    def _mine(self) -> QuerySet[Any]:
        assert self.held is not None
        return self.held.filter(lease_owner=self.owner)

    def _renew(self, seconds: float = 0) -> None:
        until = timezone.now() + timedelta(seconds=seconds + LEASE_SECONDS)
        self._mine().update(lease_until=until)

    def take(self) -> bool:
        """Take the rows no live task holds (or this one does already); whether any was."""
        if self.held is None:
            return False
        free = Q(lease_until__isnull=True) | Q(lease_until__lt=self.started)
        until = self.started + timedelta(seconds=LEASE_SECONDS)
        taken = self.held.filter(free | Q(lease_owner=self.owner)).update(
            lease_owner=self.owner, lease_until=until
        )
        return taken > 0

    def mine(self) -> list[int]:
        """The ids of the rows this task holds."""
        return [] if self.held is None else sorted(self._mine().values_list("pk", flat=True))

    def waiting(self) -> bool:
        """Whether a held row is waiting for the backend: then this attempt was its one try."""
        return self.held is not None and self._mine().filter(waits__gt=0).exists()

    def extend(self, seconds: float) -> None:
        """Hold the rows `seconds` longer than a live task would (a retry's countdown)."""
        if self.held is not None:
            self._renew(seconds)

    def release(self, *, recovered: bool = False) -> None:
        """Let the rows go. `recovered`: the call got through, so rows that were waiting for
        the backend stop waiting, unless this attempt made them wait again."""
        if self.held is None:
            return
        if recovered:
            not_again = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=self.started)
            self._mine().filter(not_again, waits__gt=0).update(
                next_attempt_at=None, **self.held.model.RECOVERED
            )
        self._mine().update(lease_owner="", lease_until=None)

    @contextmanager
    def kept(self) -> Iterator[None]:
        """Renew the lease while the body runs, however long its backend calls take."""
        if self.held is None:
            yield
            return
        stop = threading.Event()

        def beat() -> None:
            try:
                while not stop.wait(HEARTBEAT_SECONDS):
                    try:
                        self._renew()
                    except Exception:
                        # A database hiccup must not end the heartbeat: the next beat
                        # reconnects, and the lease outlasts two missed beats.
                        log.warning("could not renew the lease of %s", self.owner, exc_info=True)
                        connections.close_all()
            finally:
                connections.close_all()  # this thread's own connections

        thread = threading.Thread(target=beat, name=f"lease-{self.owner}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()


@signals.task_received.connect
def lease_on_arrival(request: Any, **_: Any) -> None:
    """Lease a task's rows as soon as a worker takes its message, before it starts.

    The broker hides a taken message until its visibility timeout; a worker killed before it
    started the task would leave the rows unleased and unnoticed until the sweeper's
    STALE_AFTER_SECONDS. Leased on arrival, they are queued again once the lease runs out. A
    retry waiting for its countdown already holds a longer lease (`Lease.extend`): left alone.
    """
    task = getattr(request, "task", None)
    if not isinstance(task, ConsoleTask) or task.holds is None or request.eta:
        return
    try:
        Lease(task._held(request.args or ()), request.id).take()
    except Exception:  # the task takes its lease itself when it starts
        log.warning("could not lease the rows of %s on arrival", request.id, exc_info=True)
