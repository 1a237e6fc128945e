"""The safety net (Celery beat, every `TUKU_SWEEP_SECONDS`): queue again what no task works on
any more. That is the rows and jobs of a worker that died (their lease ran out), those whose
wait for the backend is over, those that could not be queued while the broker was down, and,
last, those queued so long ago (`TUKU_STALE_SECONDS`) that no task took them: a lost message,
or the embedded file broker, which has no redelivery of its own. What a live task holds is
never queued twice."""

from __future__ import annotations

from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from gallery.models import Batch, Image, ImageStatus
from gallery.services.batches import batch_settle
from gallery.services.jobs import library_clear_task, library_copy_task
from gallery.services.removal import library_delete_task
from gallery.services.rows import IN_FLIGHT
from gallery.services.sync import image_update_task, images_add_enqueue, images_delete_enqueue
from gallery.services.task_base import ConsoleTask
from gallery.services.uploads import batch_fetch_task

SWEEP_LIMIT = 1000  # rows of each kind per sweep; the next sweep takes the rest
JOBS_LIMIT = 100


def images_sweep() -> dict[str, int]:
    now = timezone.now()
    stale = now - timedelta(seconds=settings.STALE_AFTER_SECONDS)
    adds = _claim(Image.objects.filter(status__in=IN_FLIGHT), now, stale, "status_changed_at")
    deletes = _claim(
        Image.objects.filter(status=ImageStatus.DELETING), now, stale, "status_changed_at"
    )
    updates = _claim(
        Image.objects.filter(status=ImageStatus.INDEXED, pending_update__isnull=False),
        now,
        stale,
        "updated_at",
    )
    images_add_enqueue(adds, now=True)
    images_delete_enqueue(deletes, now=True)
    for pk in updates:
        image_update_task.dispatch(pk)
    jobs = _jobs_sweep(now, stale)
    return {"adds": len(adds), "deletes": len(deletes), "updates": len(updates), "jobs": jobs}


def _due(now: datetime, stale: datetime, queued_at: str) -> Q:
    """Rows to queue now: held by a task that went silent, or held by none and either due
    (a wait is over, or they could not be queued) or queued before `stale` and never taken."""
    lapsed = Q(lease_until__lt=now)
    unheld = Q(lease_until__isnull=True)
    waited = Q(next_attempt_at__lte=now)
    forgotten = Q(next_attempt_at__isnull=True, **{f"{queued_at}__lt": stale})
    return lapsed | (unheld & (waited | forgotten))


def _claim(rows: QuerySet[Image], now: datetime, stale: datetime, queued_at: str) -> list[int]:
    """The rows to queue again, marked as queued now: the next sweeps leave them to their
    task until it is lost too."""
    due = _due(now, stale, queued_at)
    picked = list(rows.filter(due).values_list("pk", flat=True)[:SWEEP_LIMIT])
    # The same test again: a row a task took meanwhile keeps its lease.
    Image.objects.filter(due, pk__in=picked).update(
        lease_owner="", lease_until=None, next_attempt_at=None, **{queued_at: now}
    )
    return picked


def _jobs_sweep(now: datetime, stale: datetime) -> int:
    """Resume jobs whose task was lost or whose wait is over; settle the others that went
    quiet, and close upload batches whose page went away."""
    task_of = {
        Batch.Kind.UPLOAD: batch_fetch_task,
        Batch.Kind.COPY: library_copy_task,
        Batch.Kind.CLEAR: library_clear_task,
        Batch.Kind.DELETE: library_delete_task,
    }
    running = Batch.objects.filter(status=Batch.Status.RUNNING)
    due = _due(now, stale, "updated_at")
    n = 0
    # A job has work for its task while an upload has URLs left or another kind is feeding.
    resumable = running.filter(due).filter(Q(kind=Batch.Kind.UPLOAD) | Q(feeding=True))
    for batch in resumable[:JOBS_LIMIT]:
        if batch.kind == Batch.Kind.UPLOAD and batch.cursor >= len(batch.urls):
            continue
        claimed = Batch.objects.filter(due, pk=batch.pk).update(
            lease_owner="", lease_until=None, next_attempt_at=None, updated_at=now
        )
        if claimed:
            task_of[Batch.Kind(batch.kind)].dispatch(batch.pk)
            n += 1
    for batch in running.filter(updated_at__lt=stale)[:JOBS_LIMIT]:
        if batch.kind == Batch.Kind.UPLOAD and batch.feeding:
            # The page that was posting files went away.
            Batch.objects.filter(pk=batch.pk).update(feeding=False)
        batch_settle(batch_id=batch.pk)
        Batch.objects.filter(pk=batch.pk).update(updated_at=now)
    return n


@shared_task(base=ConsoleTask, name="gallery.tasks.images_sweep")
def images_sweep_task() -> dict[str, int]:
    return images_sweep()
