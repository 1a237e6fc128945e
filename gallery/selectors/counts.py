"""How many images a library holds, by status and in total."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count

from gallery.backends import backend_for
from gallery.models import Application, Image, ImageStatus, Library


@dataclass(frozen=True)
class LibraryCounts:
    by_status: dict[str, int]
    total: int  # live rows: everything but tombstones and rows being deleted

    def get(self, status: str) -> int:
        return self.by_status.get(status, 0)


def library_counts(library: Library) -> LibraryCounts:
    """Exact counts by status in two index-only reads: the library's total, and the statuses
    other than `indexed` (few rows in a healthy library); `indexed` is the difference. A
    grouped count over every row would read the whole table instead."""
    rows = Image.objects.filter(library=library)
    everything = rows.count()
    others = (
        rows.filter(status__in=[s for s in ImageStatus if s != ImageStatus.INDEXED])
        .values("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    by_status = {row["status"]: row["n"] for row in others}
    by_status[ImageStatus.INDEXED] = everything - sum(by_status.values())
    deleted = by_status.pop(ImageStatus.DELETED, 0)
    total = everything - deleted - by_status.get(ImageStatus.DELETING, 0)
    return LibraryCounts(by_status, total)


def application_library_counts(application: Application) -> list[tuple[Library, int]]:
    """Each library of the application with its live images, in one grouped read."""
    counts = dict(
        Image.objects.live()
        .filter(library__application=application)
        .values_list("library_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    return [
        (library, counts.get(library.pk, 0))
        for library in Library.objects.filter(application=application)
    ]


def library_backend_size(library: Library) -> int | None:
    """How many images the backend itself holds, where it can say cheaply (the built-in
    engine, in-process); None elsewhere."""
    return backend_for(library.application).library_size(library)
