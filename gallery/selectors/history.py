"""What happened to one image: its activity rows, newest first."""

from __future__ import annotations

from django.db.models import QuerySet

from gallery.models import Activity, Image


def image_history(image: Image, limit: int = 50) -> QuerySet[Activity]:
    return Activity.objects.filter(object_type="image", object_id=image.pk).select_related("actor")[
        :limit
    ]
