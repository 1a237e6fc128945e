"""Celery tasks: each takes ids, calls one service, and retries only what may pass.

Tasks are idempotent (a service re-reads the row and returns if there is nothing to do), so a
message delivered twice, or again after a worker was killed (`acks_late`), changes nothing.
"""

from __future__ import annotations

import logging
import random
from typing import Any

from celery import shared_task
from celery.app.task import Task

from gallery import services
from searchapi.baidu import BaiduError

log = logging.getLogger(__name__)

MAX_RETRIES = 8
MAX_BACKOFF = 120  # stays well below the sweeper's staleness window


def backoff(retries: int) -> float:
    return min(MAX_BACKOFF, 2 ** (retries + 1)) * random.uniform(0.8, 1.2)


def _internal(exc: Exception) -> BaiduError:
    return BaiduError("internal", f"{type(exc).__name__}: {exc}"[:255], retryable=True)


def _run(task: Task, call: Any, on_give_up: Any) -> None:
    """Run `call`; retry transient failures with backoff, then record the final one."""
    try:
        call()
    except BaiduError as exc:
        if not exc.retryable:
            raise
        if task.request.retries >= MAX_RETRIES:
            on_give_up(exc)
            return
        raise task.retry(countdown=backoff(task.request.retries), exc=exc) from None
    except Exception as exc:
        # Storage or database trouble: worth a few more tries, then it is on the row.
        log.exception("%s failed", task.name)
        if task.request.retries >= MAX_RETRIES:
            on_give_up(_internal(exc))
            return
        raise task.retry(countdown=backoff(task.request.retries), exc=exc) from None


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def image_add(self: Task, image_id: int) -> None:
    _run(
        self,
        lambda: services.image_push(image_id=image_id),
        lambda exc: services.image_push_failed(image_id=image_id, error=exc),
    )


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def image_update(self: Task, image_id: int) -> None:
    _run(
        self,
        lambda: services.image_sync_update(image_id=image_id),
        lambda exc: services.image_update_failed(image_id=image_id, error=exc),
    )


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def images_delete(self: Task, image_ids: list[int]) -> None:
    # Giving up leaves the rows in `deleting`, visible as such; the sweeper tries them again.
    _run(self, lambda: services.images_remove(image_ids=image_ids), lambda exc: None)


@shared_task(acks_late=True)
def images_sweep() -> dict[str, int]:
    return services.images_sweep()


def _job_give_up(batch_id: int) -> Any:
    def give_up(exc: BaiduError) -> None:
        log.error("job %s gave up: %s %s", batch_id, exc.error_code, exc.error_msg)
        services.Batch.objects.filter(pk=batch_id).update(
            feeding=False, message=f"{exc.error_code} {exc.error_msg}"[:300]
        )

    return give_up


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def batch_fetch(self: Task, batch_id: int) -> None:
    _run(self, lambda: services.batch_fetch(batch_id=batch_id), _job_give_up(batch_id))


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def batch_copy(self: Task, batch_id: int) -> None:
    _run(self, lambda: services.batch_copy(batch_id=batch_id), _job_give_up(batch_id))


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def library_clear(self: Task, batch_id: int) -> None:
    _run(self, lambda: services.library_clear_run(batch_id=batch_id), _job_give_up(batch_id))
