"""What every console task shares: dispatch after commit, broker outages, the retry policy."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any

from celery import Task
from django.db import transaction

from searchapi.errors import ApiError

log = logging.getLogger(__name__)

MAX_RETRIES = 8
MAX_BACKOFF = 120  # stays well below the sweeper's staleness window


def backoff(retries: int) -> float:
    return min(MAX_BACKOFF, 2 ** (retries + 1)) * random.uniform(0.8, 1.2)


def _internal(exc: Exception) -> ApiError:
    return ApiError("internal", f"{type(exc).__name__}: {exc}"[:255], retryable=True)


class ConsoleTask(Task):
    """A task that takes ids, is queued once the caller's transaction commits, and survives a
    broker outage: a message that cannot be published leaves its row for the sweeper."""

    acks_late = True
    max_retries = MAX_RETRIES

    def enqueue(self, *args: Any) -> None:
        """Queue the task once the current transaction commits (at once outside one)."""
        transaction.on_commit(lambda: self.dispatch(*args))

    def dispatch(self, *args: Any) -> None:
        """Queue the task now; if the broker is down, log it and let the sweeper retry."""
        try:
            self.delay(*args)
        except Exception as exc:
            log.warning("could not queue %s%s (%s); the sweeper will retry", self.name, args, exc)

    def run_retrying(
        self, call: Callable[[], object], on_give_up: Callable[[ApiError], object]
    ) -> None:
        """Run `call`; retry transient failures with backoff, then record the final one."""
        try:
            call()
        except ApiError as exc:
            if not exc.retryable:
                raise
            if self.request.retries >= MAX_RETRIES:
                on_give_up(exc)
                return
            raise self.retry(countdown=backoff(self.request.retries), exc=exc) from None
        except Exception as exc:
            # Storage or database trouble: worth a few more tries, then it is on the row.
            log.exception("%s failed", self.name)
            if self.request.retries >= MAX_RETRIES:
                on_give_up(_internal(exc))
                return
            raise self.retry(countdown=backoff(self.request.retries), exc=exc) from None
