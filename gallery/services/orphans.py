"""Files in storage that no row names: removed once they are old enough to be nobody's work.

An upload stores its original and thumbnail before its row commits (the files must exist
before anything can refer to them), and a delete removes the files after its tombstone
commits. A process killed between the two steps leaves files that no row names. No order of
steps avoids that window, so this sweep (Celery beat) closes it: under `originals/` and
`thumbnails/`, every file that no row names and that is older than ORPHAN_AGE_SECONDS, far
longer than any upload takes from its first file to its commit, is removed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone

from gallery.models import Image
from gallery.services.rows import remove_files
from gallery.services.task_base import ConsoleTask

log = logging.getLogger(__name__)

ROOTS = ("originals", "thumbnails")


def _files(folder: str) -> Iterator[str]:
    folders, files = default_storage.listdir(folder)
    for name in files:
        yield f"{folder}/{name}"
    for sub in folders:
        yield from _files(f"{folder}/{sub}")


def _library_folders() -> Iterator[tuple[str, int | None]]:
    """(folder, library id) for each library's folder under ROOTS; None for a foreign name."""
    for root in ROOTS:
        if not default_storage.exists(root):
            continue
        for name in default_storage.listdir(root)[0]:
            yield f"{root}/{name}", int(name) if name.isdigit() else None


def _named_by_rows(library_id: int) -> set[str]:
    names: set[str] = set()
    for original, thumbnail in Image.objects.filter(library_id=library_id).values_list(
        "original", "thumbnail"
    ):
        names.update(n for n in (original, thumbnail) if n)
    return names


def orphan_files_sweep(*, older_than: timedelta | None = None) -> int:
    """Remove files no row names that were last written before `older_than` ago; return how
    many. Folders that are not a library's (no number) are left alone."""
    age = older_than if older_than is not None else timedelta(seconds=settings.ORPHAN_AGE_SECONDS)
    before: datetime = timezone.now() - age
    removed = 0
    for folder, library_id in _library_folders():
        if library_id is None:
            continue
        named = _named_by_rows(library_id)
        for name in _files(folder):
            if name in named or default_storage.get_modified_time(name) >= before:
                continue
            # A row may have committed since `named` was read: look again before removing.
            if Image.objects.filter(library_id=library_id, original=name).exists() or (
                Image.objects.filter(library_id=library_id, thumbnail=name).exists()
            ):
                continue
            remove_files(name)
            removed += 1
    if removed:
        log.warning("removed %d files that no image row named", removed)
    return removed


@shared_task(base=ConsoleTask, name="gallery.tasks.orphan_files_sweep")
def orphan_files_sweep_task() -> int:
    return orphan_files_sweep()
