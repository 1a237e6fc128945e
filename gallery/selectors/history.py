"""What happened to one image: its activity rows, newest first."""

from __future__ import annotations

from django.db.models import QuerySet

from gallery.models import Activity, ActivityVerb, Image


def image_history(image: Image, limit: int = 50) -> QuerySet[Activity]:
    return Activity.objects.filter(object_type="image", object_id=image.pk).select_related("actor")[
        :limit
    ]


def deleted_by(image: Image) -> Activity | None:
    """The activity that deleted a tombstoned image (none if it went through the API)."""
    return (
        Activity.objects.filter(
            object_type="image", object_id=image.pk, verb=ActivityVerb.IMAGE_DELETE
        )
        .select_related("actor")
        .order_by("-created_at")
        .first()
    )
