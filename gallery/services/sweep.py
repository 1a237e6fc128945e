"""The safety net (Celery beat): queue again whatever has waited too long — a lost message, a
broker outage, a crashed worker, the embedded file broker's missing redelivery."""

from __future__ import annotations

from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from gallery.models import Batch, Image, ImageStatus
from gallery.services.batches import batch_settle
from gallery.services.jobs import library_clear_task, library_copy_task
from gallery.services.rows import IN_FLIGHT
from gallery.services.sync import image_add_task, image_update_task, images_delete_enqueue
from gallery.services.task_base import ConsoleTask
from gallery.services.uploads import batch_fetch_task

SWEEP_LIMIT = 1000  # rows of each kind per sweep; the next sweep takes the rest


def images_sweep() -> dict[str, int]:
    stale = timezone.now() - timedelta(seconds=settings.STALE_AFTER_SECONDS)
    waiting = Image.objects.filter(status_changed_at__lt=stale)
    adds = list(waiting.filter(status__in=IN_FLIGHT).values_list("pk", flat=True)[:SWEEP_LIMIT])
    deletes = list(
        waiting.filter(status=ImageStatus.DELETING).values_list("pk", flat=True)[:SWEEP_LIMIT]
    )
    updates = list(
        Image.objects.filter(
            status=ImageStatus.INDEXED, pending_update__isnull=False, updated_at__lt=stale
        ).values_list("pk", flat=True)[:SWEEP_LIMIT]
    )
    for pk in adds:
        image_add_task.dispatch(pk)
    images_delete_enqueue(deletes, now=True)
    for pk in updates:
        image_update_task.dispatch(pk)
    Image.objects.filter(pk__in=adds + deletes).update(status_changed_at=timezone.now())
    jobs = _jobs_sweep(stale)
    return {"adds": len(adds), "deletes": len(deletes), "updates": len(updates), "jobs": jobs}


def _jobs_sweep(stale: datetime) -> int:
    """Resume jobs whose task was lost; close upload batches whose page went away."""
    task_of = {
        Batch.Kind.UPLOAD: batch_fetch_task,
        Batch.Kind.COPY: library_copy_task,
        Batch.Kind.CLEAR: library_clear_task,
    }
    n = 0
    for batch in Batch.objects.filter(status=Batch.Status.RUNNING, updated_at__lt=stale)[:100]:
        upload = batch.kind == Batch.Kind.UPLOAD
        if (upload and batch.cursor < len(batch.urls)) or (not upload and batch.feeding):
            task_of[Batch.Kind(batch.kind)].dispatch(batch.pk)
            n += 1
        if upload and batch.feeding:
            # The page that was posting files went away.
            Batch.objects.filter(pk=batch.pk).update(feeding=False)
        batch_settle(batch_id=batch.pk)
        Batch.objects.filter(pk=batch.pk).update(updated_at=timezone.now())
    return n


@shared_task(base=ConsoleTask, name="gallery.tasks.images_sweep")
def images_sweep_task() -> dict[str, int]:
    return images_sweep()
