"""Reads of image rows outside the grid: status polling, recent uploads, selections."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from django.contrib.auth.models import User
from django.db.models import Q, QuerySet
from django.utils import timezone

from gallery.models import Image, ImageStatus, Library

MAX_POLLED = 500  # ids one status request may ask for
MAX_SELECTED = 1000  # rows one bulk action may touch


def images_status(library: Library, ids: Sequence[int]) -> QuerySet[Image]:
    """The columns the polling pages show, for the given rows of the library."""
    return Image.objects.filter(library=library, pk__in=ids[:MAX_POLLED]).only(
        "id",
        "status",
        "error_code",
        "error_msg",
        "duplicate_of",
        "pending_update",
        "waits",
        "cont_sign",
        "brief",
        "library_id",
    )


def recent_uploads(library: Library, user: User, hours: int = 12) -> list[Image]:
    """The user's rows of the last hours that are still on their way or failed."""
    since = timezone.now() - timedelta(hours=hours)
    return list(
        Image.objects.filter(
            library=library,
            uploaded_by=user,
            created_at__gte=since,
            status__in=[ImageStatus.PENDING, ImageStatus.INDEXING, ImageStatus.FAILED],
        ).order_by("-created_at", "-id")[:200]
    )


def images_selected(library: Library, ids: Sequence[int]) -> list[Image]:
    """The rows of a bulk action: only the library's own, tombstones left out, newest first."""
    return list(
        Image.objects.listed()
        .filter(library=library, pk__in=ids[:MAX_SELECTED])
        .order_by("-created_at", "-id")
    )


def brief_taken(image: Image) -> bool:
    """Whether another live image of the library has the same brief (a warning, not an error:
    the backend allows it, but search results then cannot be told apart by their brief)."""
    return (
        Image.objects.live()
        .filter(library_id=image.library_id, brief=image.brief)
        .exclude(pk=image.pk)
        .exists()
    )


def image_pending(image: Image) -> bool:
    """Whether an edit of the row still waits for the backend, as stored now (the task may
    have answered since the caller read the row)."""
    pending = Image.objects.filter(pk=image.pk).values_list("pending_update", flat=True).first()
    return bool(pending)


def image_duplicate_of(image: Image) -> Image | None:
    """The live row holding the same bytes, when the backend refused this one as a copy."""
    if image.duplicate_of_id is None:
        return None
    return Image.objects.listed().filter(pk=image.duplicate_of_id).first()


def image_neighbours(image: Image) -> tuple[Image | None, Image | None]:
    """The next newer and the next older live row of the image's library, in the grid's
    default order (newest first), for the preview's previous / next."""
    rows = Image.objects.live().filter(library_id=image.library_id).only("id", "brief")
    same, at = Q(created_at=image.created_at), image.created_at
    newer = (
        rows.filter(Q(created_at__gt=at) | same & Q(id__gt=image.pk))
        .order_by("created_at", "id")
        .first()
    )
    older = (
        rows.filter(Q(created_at__lt=at) | same & Q(id__lt=image.pk))
        .order_by("-created_at", "-id")
        .first()
    )
    return newer, older
