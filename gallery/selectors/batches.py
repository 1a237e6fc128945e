"""Background jobs of a library: where one stands, and the latest ones."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, QuerySet
from django.utils import timezone

from gallery.models import Batch, Image, ImageStatus, Library

# No rate (and so no ETA) before this many items have settled and this many seconds have
# passed: the first few items carry the start-up (a worker waking, the engine loading its
# model), and a rate from two of them promises what the rest will not keep.
RATE_MIN_SETTLED = 5
RATE_MIN_SECONDS = 2.0


@dataclass(frozen=True)
class BatchProgress:
    total: int
    settled: int
    counts: dict[str, int]
    rows: list[Image]
    problems: list[dict[str, Any]]
    rate: float | None = None  # items settled per second since the job started
    eta_seconds: int | None = None  # at that rate, until the items known now are settled

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.settled / self.total)) if self.total else 100

    @property
    def eta_minutes(self) -> int:
        return round((self.eta_seconds or 0) / 60)


def batch_pace(
    batch: Batch, total: int, settled: int, now: datetime | None = None
) -> tuple[float | None, int | None]:
    """(items per second, seconds left) of a job, from its own progress: the items settled
    over the time since it was created (until it finished), the rest at that rate. None where
    too little is done to tell, and no ETA once it stopped or while it waits for the backend."""
    end = batch.finished_at or now or timezone.now()
    elapsed = (end - batch.created_at).total_seconds()
    if settled < RATE_MIN_SETTLED or elapsed < RATE_MIN_SECONDS:
        return None, None
    rate = settled / elapsed
    left = max(0, total - settled)
    if batch.status != Batch.Status.RUNNING or batch.waits or not left:
        return rate, None
    return rate, max(1, round(left / rate))


def batch_progress(batch: Batch, limit: int = 1000) -> BatchProgress:
    """Where a job stands: rows per state, each row's result, the inputs refused, its pace."""
    if batch.kind in (Batch.Kind.CLEAR, Batch.Kind.DELETE):
        left = Image.objects.listed().filter(library_id=batch.library_id).count()
        total = max(batch.total, left)
        return BatchProgress(
            total, total - left, {"left": left}, [], [], *batch_pace(batch, total, total - left)
        )
    counts = dict(batch.images.values_list("status").annotate(n=Count("id")).order_by())
    problems = list(batch.problems)
    in_flight = counts.get(ImageStatus.PENDING, 0) + counts.get(ImageStatus.INDEXING, 0)
    rows_total = sum(counts.values())
    total = max(batch.total, rows_total + len(problems))
    rows = list(batch.images.select_related("duplicate_of").order_by("pk")[:limit])
    settled = rows_total - in_flight + len(problems)
    return BatchProgress(total, settled, counts, rows, problems, *batch_pace(batch, total, settled))


def library_batches(library: Library, limit: int = 10) -> QuerySet[Batch]:
    return Batch.objects.filter(library=library).order_by("-created_at", "-id")[:limit]
