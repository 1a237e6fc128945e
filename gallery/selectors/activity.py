"""The application's activity log."""

from __future__ import annotations

from collections.abc import Sequence

from gallery.models import Activity, Application, Batch, Image, Library


def application_activity(
    application: Application, *, before: int | None = None, size: int = 50
) -> tuple[list[Activity], int | None]:
    """Newest first, keyset by id; returns the page and the cursor of the next one."""
    rows = Activity.objects.filter(application=application).select_related("actor")
    if before is not None:
        rows = rows.filter(id__lt=before)
    page = list(rows.order_by("-id")[: size + 1])
    more = len(page) > size
    page = page[:size]
    return page, (page[-1].pk if more and page else None)


def activity_linked_images(application: Application, rows: Sequence[Activity]) -> set[int]:
    """The ids of the images named by `rows` that still have a page to link to."""
    ids = [row.object_id for row in rows if row.object_type == "image" and row.object_id]
    return set(
        Image.objects.listed()
        .filter(pk__in=ids, library__application=application)
        .values_list("pk", flat=True)
    )


def activity_object_names(application: Application, rows: Sequence[Activity]) -> dict[str, str]:
    """The libraries and jobs named by `rows` that still exist, by `"type:id"`, named now, in
    the viewer's language: an entry keeps the name its object had when it was written
    (`object_repr`), which was in the language of whoever acted."""
    wanted: dict[str, list[int]] = {"library": [], "batch": []}
    for row in rows:
        if row.object_type in wanted and row.object_id:
            wanted[row.object_type].append(row.object_id)
    names: dict[str, str] = {}
    libraries = Library.objects.filter(application=application, pk__in=wanted["library"])
    for library in libraries.select_related("application"):
        names[f"library:{library.pk}"] = str(library)
    for batch in Batch.objects.filter(library__application=application, pk__in=wanted["batch"]):
        names[f"batch:{batch.pk}"] = str(batch)
    return names
