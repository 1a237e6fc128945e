"""Background jobs of a library: where one stands, and the latest ones."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, QuerySet

from gallery.models import Batch, Image, ImageStatus, Library


@dataclass(frozen=True)
class BatchProgress:
    total: int
    settled: int
    counts: dict[str, int]
    rows: list[Image]
    problems: list[dict[str, Any]]

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.settled / self.total)) if self.total else 100


def batch_progress(batch: Batch, limit: int = 1000) -> BatchProgress:
    """Where a job stands: rows per state, each row's result, and the inputs refused."""
    if batch.kind == Batch.Kind.CLEAR:
        left = Image.objects.listed().filter(library_id=batch.library_id).count()
        total = max(batch.total, left)
        return BatchProgress(total, total - left, {"left": left}, [], [])
    counts = dict(batch.images.values_list("status").annotate(n=Count("id")).order_by())
    problems = list(batch.problems)
    in_flight = counts.get(ImageStatus.PENDING, 0) + counts.get(ImageStatus.INDEXING, 0)
    rows_total = sum(counts.values())
    total = max(batch.total, rows_total + len(problems))
    rows = list(batch.images.select_related("duplicate_of").order_by("pk")[:limit])
    settled = rows_total - in_flight + len(problems)
    return BatchProgress(total, settled, counts, rows, problems)


def batch_problem(batch: Batch, index: int) -> dict[str, Any]:
    """The batch's `index`-th refused input as stored now ({} if there is none yet)."""
    problems = Batch.objects.filter(pk=batch.pk).values_list("problems", flat=True).first()
    return problems[index] if problems and len(problems) > index else {}


def library_batches(library: Library, limit: int = 10) -> QuerySet[Batch]:
    return Batch.objects.filter(library=library).order_by("-created_at", "-id")[:limit]
