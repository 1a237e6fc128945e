"""Images other clients stored through the wire API, mirrored as rows (console §2.4).

Only backends that can list a library (the built-in engine) have such changes to tell. Entries
the console does not know become rows (source "API", the backend's thumbnail, no original);
rows whose ref the backend no longer holds are gone (`sync.image_gone`: kept, failed as gone,
where Tuku holds the original; a tombstone otherwise). Each run that changed something is in
the activity log.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.core.files.base import ContentFile
from django.db import DatabaseError, IntegrityError, transaction

from gallery import images
from gallery.backends import backend_for
from gallery.backends.base import ApiImage
from gallery.explain import GONE_ELSEWHERE
from gallery.models import ActivityVerb, Image, ImageSource, ImageStatus, Library
from gallery.services.activity import activity_record
from gallery.services.rows import IN_FLIGHT, remove_files
from gallery.services.sync import image_gone
from gallery.services.task_base import ConsoleTask
from searchapi.errors import ApiError
from wire.baidu import MAX_BRIEF_BYTES

log = logging.getLogger(__name__)


def library_mirror_request(*, library: Library) -> bool:
    """Ask for the library's API changes to be mirrored, if the backend has any to tell; the
    caller (a page view) writes nothing itself. Returns whether a mirror was queued."""
    try:
        seq = backend_for(library.application).api_seq(library)
    except DatabaseError:
        # The listing must open even when the engine's store is busy; the next view asks again.
        log.exception("could not read the change number of library %s", library.pk)
        return False
    if seq is None or seq == library.engine_seq:
        return False
    library_mirror_task.dispatch(library.pk)
    return True


def library_mirror_run(*, library_id: int) -> dict[str, int]:
    """Mirror what other clients did to the library. Cheap when nothing changed: one read of
    the backend library's sequence number."""
    library = Library.objects.select_related("application").get(pk=library_id)
    backend = backend_for(library.application)
    changes = backend.api_changes(library, after_seq=library.engine_seq)
    if changes is None or (changes.seq == library.engine_seq and not changes.added):
        return {"added": 0, "removed": 0}
    added = removed = 0
    refs = [entry.ref for entry in changes.added]
    hashes = [entry.sha256 for entry in changes.added]
    known = set(
        library.images.listed().filter(cont_sign__in=refs).values_list("cont_sign", flat=True)
    )
    # Our own adds in flight: the backend has them before the task stores their ref.
    in_flight = set(
        library.images.filter(status__in=IN_FLIGHT, sha256__in=hashes).values_list(
            "sha256", flat=True
        )
    )
    for entry in changes.added:
        if entry.ref in known or entry.sha256 in in_flight:
            continue
        image = _mirror_entry(library, entry)
        known.add(entry.ref)
        added += 1
        if image is not None:
            # Each row that appears is in the log, as each one that goes is (`image_gone`).
            activity_record(
                actor=None,
                application=library.application,
                verb=ActivityVerb.IMAGE_API_ADD,
                obj=image,
                library=library.service,
                brief=image.brief,
                tags=image.tags,
                **(
                    {"class_id1": image.class_id1, "class_id2": image.class_id2}
                    if library.uses_class_ids
                    else {}
                ),
            )
    if changes.removed_any:
        # Rows first, then the backend's set: a row indexed meanwhile is in that set.
        rows = dict(
            library.images.filter(status=ImageStatus.INDEXED).values_list("cont_sign", "pk")
        )
        live = backend.refs(library)
        gone = [pk for ref, pk in rows.items() if ref not in live]
        error = ApiError(type(backend).codes.gone, GONE_ELSEWHERE, retryable=False)
        files: list[str] = []
        with transaction.atomic():
            for row in Image.objects.select_for_update().filter(
                pk__in=gone, status=ImageStatus.INDEXED
            ):
                files += image_gone(row, error)
                removed += 1
        remove_files(*files)
    with transaction.atomic():
        Library.objects.filter(pk=library.pk).update(engine_seq=changes.seq)
        if added or removed:
            activity_record(
                actor=None,
                application=library.application,
                verb=ActivityVerb.LIBRARY_MIRROR,
                obj=library,
                added=added,
                removed=removed,
            )
    return {"added": added, "removed": removed}


def _mirror_entry(library: Library, entry: ApiImage) -> Image | None:
    image = Image(
        library=library,
        sha256=entry.sha256,
        width=entry.width,
        height=entry.height,
        bytes=entry.byte_size,
        format=entry.format,
        brief=entry.brief[:MAX_BRIEF_BYTES],
        source="API",
        source_kind=ImageSource.API,
        cont_sign=entry.ref,
        status=ImageStatus.INDEXED,
    )
    entry.labels.apply(image)
    if entry.thumbnail:
        image.thumbnail.save(images.thumbnail_name(), ContentFile(entry.thumbnail), save=False)
    try:
        with transaction.atomic():
            image.save()
    except IntegrityError:
        # Mirrored by a concurrent request, or stored by our own task meanwhile.
        remove_files(image.thumbnail.name)
        return None
    return image


@shared_task(base=ConsoleTask, name="gallery.tasks.library_mirror")
def library_mirror_task(library_id: int) -> dict[str, int]:
    return library_mirror_run(library_id=library_id)
