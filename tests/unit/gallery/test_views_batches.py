"""The job page of a batch: what it shows and what it leaves alone."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from gallery.models import Batch
from tests.unit.gallery.kit import login

pytestmark = pytest.mark.django_db


def sql_writes(queries) -> list[str]:
    return [
        q["sql"]
        for q in queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]


def test_the_batch_page_writes_nothing_even_when_the_batch_could_be_settled(
    client, personas, library
):
    # Nothing feeds it and no row is in flight: settling it is the tasks' work, not the page's.
    batch = Batch.objects.create(
        library=library, kind=Batch.Kind.UPLOAD, created_by=personas["editor"], feeding=False
    )
    login(client, personas, "viewer")
    url = reverse("gallery:batch", args=[batch.pk])
    with CaptureQueriesContext(connection) as queries:
        page = client.get(url)
        fragment = client.get(url, {"fragment": "1"})
    assert page.status_code == 200 and fragment.status_code == 200
    assert sql_writes(queries) == []
    batch.refresh_from_db()
    assert batch.status == Batch.Status.RUNNING


def test_the_batch_page_shows_the_refused_inputs_in_words(client, personas, library):
    batch = Batch.objects.create(
        library=library,
        kind=Batch.Kind.UPLOAD,
        created_by=personas["editor"],
        problems=[{"name": "x.gif", "code": 216201, "message": "GIF", "duplicate": None}],
    )
    login(client, personas, "viewer")
    page = client.get(reverse("gallery:batch", args=[batch.pk])).content.decode()
    assert "x.gif" in page and "216201" in page and "PNG, JPEG or BMP" in page
    assert "Cancel" not in page  # a viewer may watch, not act


def test_a_job_waiting_for_the_backend_says_so_and_when_it_tries_again(client, personas, library):
    batch = Batch.objects.create(
        library=library,
        kind=Batch.Kind.COPY,
        created_by=personas["editor"],
        feeding=True,
        waits=2,
        next_attempt_at=timezone.now() + timedelta(minutes=2),
        message="282000 internal error",
    )
    login(client, personas, "viewer")
    page = client.get(reverse("gallery:batch", args=[batch.pk]), {"fragment": "1"})
    text = page.content.decode()
    assert "Waiting for the backend" in text and "282000 internal error" in text
    at = timezone.localtime(batch.next_attempt_at)
    assert re.search(
        rf'Next attempt at <time datetime="[^"]+" title="[^"]+">{at:%H:%M:%S} UTC</time>', text
    )


def test_retry_failed_is_offered_only_where_something_failed(client, personas, library):
    from gallery.models import ImageStatus
    from tests.unit.gallery.kit import upload_image

    batch = Batch.objects.create(
        library=library,
        kind=Batch.Kind.UPLOAD,
        created_by=personas["editor"],
        status=Batch.Status.DONE,
        feeding=False,
    )
    login(client, personas, "editor")
    url = reverse("gallery:batch", args=[batch.pk])
    assert "data-batch-retry" not in client.get(url).content.decode()  # done, nothing failed
    row = upload_image(library, personas)
    row.batch = batch
    row.status = ImageStatus.FAILED
    row.save()
    assert "data-batch-retry" in client.get(url).content.decode()
    Batch.objects.filter(pk=batch.pk).update(status=Batch.Status.RUNNING)
    row.status, row.cont_sign = ImageStatus.INDEXED, "1,2"
    row.save()
    assert "data-batch-retry" in client.get(url).content.decode()  # failures may still come


def test_a_refused_duplicate_names_the_image_already_here(client, personas, library):
    from tests.unit.gallery.kit import upload_image

    holder = upload_image(library, personas, brief="the original")
    batch = Batch.objects.create(
        library=library,
        kind=Batch.Kind.UPLOAD,
        created_by=personas["editor"],
        problems=[
            {
                "name": "copy.jpg",
                "code": 216681,
                "message": "same file",
                "duplicate": holder.pk,
                "duplicate_brief": holder.brief,
            }
        ],
    )
    login(client, personas, "viewer")
    page = client.get(reverse("gallery:batch", args=[batch.pk])).content.decode()
    assert "Already here as “the original”" in page
