"""A job's pace on its page: images per second and the time left, only once it can be told."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from gallery.models import Batch, Image, ImageStatus
from gallery.selectors.batches import RATE_MIN_SETTLED, batch_pace, batch_progress
from tests.unit.gallery.kit import login

pytestmark = pytest.mark.django_db


def _batch(library, personas, *, seconds_ago: float, **fields) -> Batch:
    batch = Batch.objects.create(
        library=library, kind=Batch.Kind.UPLOAD, created_by=personas["editor"], **fields
    )
    created = timezone.now() - timedelta(seconds=seconds_ago)
    Batch.objects.filter(pk=batch.pk).update(created_at=created)
    batch.refresh_from_db()
    return batch


def _rows(batch, status, n, start=0):
    for i in range(start, start + n):
        Image.objects.create(
            library=batch.library,
            batch=batch,
            sha256=f"{i:064x}",
            width=400,
            height=300,
            bytes=1,
            format="JPEG",
            brief=f"b{i}",
            status=status,
            cont_sign=f"{i},{i}" if status == ImageStatus.INDEXED else None,
        )


def test_the_rate_is_the_settled_items_over_the_time_since_the_job_started(library, personas):
    batch = _batch(library, personas, seconds_ago=10)
    now = batch.created_at + timedelta(seconds=10)
    assert batch_pace(batch, total=100, settled=20, now=now) == (2.0, 40)


def test_no_rate_and_no_eta_before_a_few_items_or_seconds(library, personas):
    batch = _batch(library, personas, seconds_ago=30)
    now = batch.created_at + timedelta(seconds=30)
    assert batch_pace(batch, total=100, settled=RATE_MIN_SETTLED - 1, now=now) == (None, None)
    young = batch.created_at + timedelta(seconds=1)
    assert batch_pace(batch, total=100, settled=50, now=young) == (None, None)


def test_a_finished_job_keeps_its_rate_and_has_no_eta(library, personas):
    batch = _batch(library, personas, seconds_ago=600, status=Batch.Status.DONE)
    batch.finished_at = batch.created_at + timedelta(seconds=20)
    # Measured until it finished, not until now: the rate does not decay on a later visit.
    assert batch_pace(batch, total=50, settled=50) == (2.5, None)
    batch.status = Batch.Status.CANCELLED
    assert batch_pace(batch, total=50, settled=30) == (1.5, None)


def test_no_eta_while_the_job_waits_for_the_backend(library, personas):
    batch = _batch(library, personas, seconds_ago=10, waits=1)
    assert (
        batch_pace(batch, total=100, settled=20, now=batch.created_at + timedelta(seconds=10))[1]
        is None
    )


def test_the_progress_counts_settled_rows_and_refused_inputs(library, personas):
    problems = [{"name": "x.gif", "code": 216201, "message": "GIF", "duplicate": None}]
    batch = _batch(library, personas, seconds_ago=10, problems=problems)
    _rows(batch, ImageStatus.INDEXED, 7)
    _rows(batch, ImageStatus.FAILED, 2, start=7)
    _rows(batch, ImageStatus.PENDING, 10, start=9)
    progress = batch_progress(batch)
    assert (progress.total, progress.settled) == (20, 10)
    assert progress.rate == pytest.approx(1.0, rel=0.05)
    assert progress.eta_seconds == pytest.approx(10, abs=1)


def test_the_page_shows_the_rate_and_the_time_left(client, library, personas):
    batch = _batch(library, personas, seconds_ago=100)
    _rows(batch, ImageStatus.INDEXED, 10)
    _rows(batch, ImageStatus.PENDING, 50, start=10)
    login(client, personas, "viewer")
    fragment = client.get(reverse("gallery:batch", args=[batch.pk]), {"fragment": "1"})
    html = fragment.content.decode()
    assert "0.1 images/s" in html and "about 8 min left" in html
    young = _batch(library, personas, seconds_ago=0.5)
    _rows(young, ImageStatus.INDEXED, 1, start=100)
    html = client.get(reverse("gallery:batch", args=[young.pk]), {"fragment": "1"}).content
    assert b"data-batch-rate" not in html and b"data-batch-eta" not in html
