"""Small steps on image rows that several services share: status, tombstones, files."""

from __future__ import annotations

import logging

from django.core.files.storage import default_storage
from django.utils import timezone

from gallery.models import Image, ImageStatus
from searchapi.errors import ApiError

log = logging.getLogger(__name__)

IN_FLIGHT = (ImageStatus.PENDING, ImageStatus.INDEXING)


def set_status(row: Image, status: str, error: ApiError | None = None) -> None:
    row.status = status
    row.status_changed_at = timezone.now()
    row.error_code = "" if error is None else str(error.error_code)
    row.error_msg = "" if error is None else error.error_msg[:255]
    if status not in IN_FLIGHT:
        # A wait for the backend belongs to one add: a row that settles, or starts being
        # deleted, starts afresh.
        row.next_attempt_at, row.waits = None, 0


def tombstone(row: Image) -> list[str]:
    """Mark a row deleted; returns the storage names to remove once that is committed."""
    names = [n for n in (row.original.name, row.thumbnail.name) if n]
    set_status(row, ImageStatus.DELETED)
    row.deleted_at = timezone.now()
    row.pending_update = None
    row.original.name = ""
    row.thumbnail.name = ""
    row.save()
    return names


def remove_files(*names: str | None) -> None:
    for name in names:
        if not name:
            continue
        try:
            default_storage.delete(name)
        except Exception:
            log.exception("could not remove %s from storage", name)


def read_original(row: Image) -> bytes:
    with default_storage.open(str(row.original.name), "rb") as handle:
        return handle.read()
