"""gallery.services.sweep: what waited too long is queued again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from gallery.models import Batch, ImageStatus
from gallery.services.sweep import images_sweep, images_sweep_task
from gallery.services.uploads import batch_create
from tests.unit.gallery.kit import upload_image

pytestmark = pytest.mark.django_db


def test_sweeper_dispatches_rows_that_waited_too_long(
    library, personas, baidu, settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):  # the broker "lost" the message
        image = upload_image(library, personas)
    settings.STALE_AFTER_SECONDS = 0
    assert images_sweep_task.delay().get() == {"adds": 1, "deletes": 0, "updates": 0, "jobs": 0}
    image.refresh_from_db()
    assert image.status == ImageStatus.INDEXED


def test_the_sweeper_resumes_lost_jobs_and_closes_batches_whose_page_went_away(
    personas,
    library,
    settings,
    web,
):
    settings.STALE_AFTER_SECONDS = 60
    lost = batch_create(actor=personas["editor"], library=library, urls=[f"{web}/cat.jpg"])
    gone = batch_create(actor=personas["editor"], library=library)  # files never came
    Batch.objects.update(updated_at=timezone.now() - timedelta(minutes=5))
    assert images_sweep()["jobs"] == 1
    lost.refresh_from_db()
    gone.refresh_from_db()
    assert lost.cursor == 1 and lost.images.count() == 1
    assert gone.status == Batch.Status.DONE and not gone.feeding
