"""gallery.services.sweep: what no task works on any more is queued again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from gallery.models import Batch, Image, ImageStatus
from gallery.services import jobs, task_base
from gallery.services.jobs import library_clear
from gallery.services.sweep import images_sweep, images_sweep_task
from gallery.services.sync import image_add_task
from gallery.services.task_base import MAX_RETRIES
from gallery.services.uploads import batch_create, batch_fetch_task
from tests.unit.gallery.kit import upload_committed, upload_image

pytestmark = pytest.mark.django_db


def ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


def test_sweeper_dispatches_rows_that_waited_too_long(
    library, personas, baidu, settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):  # the broker "lost" the message
        image = upload_image(library, personas)
    settings.STALE_AFTER_SECONDS = 0
    assert images_sweep_task.delay().get() == {"adds": 1, "deletes": 0, "updates": 0, "jobs": 0}
    image.refresh_from_db()
    assert image.status == ImageStatus.INDEXED


def test_a_row_that_could_not_be_queued_is_queued_by_the_next_sweep(
    library, personas, baidu, commit, monkeypatch
):
    def down(*args):
        raise ConnectionRefusedError("broker down")

    with monkeypatch.context() as broker:
        broker.setattr(image_add_task, "delay", down)
        with commit():
            image = upload_image(library, personas)
    image.refresh_from_db()
    assert image.status == ImageStatus.PENDING
    # Far sooner than the staleness rule (TUKU_STALE_SECONDS) would look at it.
    assert images_sweep()["adds"] == 1
    image.refresh_from_db()
    assert image.status == ImageStatus.INDEXED


def test_a_row_a_live_task_holds_is_left_alone_and_one_whose_lease_ran_out_is_queued_again(
    library, personas, baidu
):
    image = upload_image(library, personas)  # never committed, so never queued
    Image.objects.filter(pk=image.pk).update(
        status=ImageStatus.INDEXING,
        lease_owner="task-1",
        lease_until=timezone.now() + timedelta(seconds=20),
        status_changed_at=ago(3600),
    )
    assert images_sweep()["adds"] == 0
    assert baidu.calls == []
    Image.objects.filter(pk=image.pk).update(lease_until=ago(1))  # its worker died
    assert images_sweep()["adds"] == 1
    image.refresh_from_db()
    assert image.status == ImageStatus.INDEXED
    assert [op for _, op, _ in baidu.calls] == ["add"]


def test_a_waiting_row_gets_one_attempt_per_wait_each_longer_until_the_backend_answers(
    library, personas, baidu, commit, monkeypatch
):
    monkeypatch.setattr(task_base, "backoff", lambda retries: 0)
    baidu.fail("same_hq", "add", *[282000] * (MAX_RETRIES + 1))
    with commit():
        image = upload_image(library, personas)
    assert images_sweep()["adds"] == 0  # its first wait is not over
    waits = []
    for _ in range(4):
        baidu.fail("same_hq", "add", 282000)  # still away
        calls = len(baidu.calls)
        Image.objects.filter(pk=image.pk).update(next_attempt_at=ago(1))
        assert images_sweep()["adds"] == 1
        assert len(baidu.calls) == calls + 1  # one attempt, not another round of retries
        image.refresh_from_db()
        assert (image.status, image.error_code) == (ImageStatus.PENDING, "282000")
        waits.append(round((image.next_attempt_at - timezone.now()).total_seconds() / 60))
    assert waits == [2, 4, 8, 10]
    Image.objects.filter(pk=image.pk).update(next_attempt_at=ago(1))
    assert images_sweep()["adds"] == 1
    image.refresh_from_db()
    assert (image.status, image.error_code, image.waits) == (ImageStatus.INDEXED, "", 0)
    assert image.next_attempt_at is None


def test_a_permanent_error_still_fails_the_row_and_the_sweeper_leaves_it(
    library, personas, baidu, commit
):
    baidu.fail("same_hq", "add", 216201)
    with commit():
        image = upload_image(library, personas)
    image.refresh_from_db()
    assert (image.status, image.error_code, image.waits) == (ImageStatus.FAILED, "216201", 0)
    Image.objects.filter(pk=image.pk).update(status_changed_at=ago(3600))
    assert images_sweep()["adds"] == 0


def test_a_job_whose_retries_run_out_waits_and_the_sweeper_resumes_it(
    personas, library, baidu, commit, monkeypatch
):
    monkeypatch.setattr(task_base, "backoff", lambda retries: 0)
    upload_committed(library, personas, 1, commit)
    failures = iter([OperationalError("database is locked")] * (MAX_RETRIES + 1))
    real_delete = jobs.images_delete

    def flaky_delete(**kwargs):
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return real_delete(**kwargs)

    monkeypatch.setattr(jobs, "images_delete", flaky_delete)
    with commit():
        batch = library_clear(actor=personas["editor"], library=library, confirm="Shop/same_hq")
    batch.refresh_from_db()
    assert (batch.status, batch.feeding, batch.waits) == (Batch.Status.RUNNING, True, 1)
    assert "database is locked" in batch.message
    assert images_sweep()["jobs"] == 0  # its wait is not over
    Batch.objects.filter(pk=batch.pk).update(next_attempt_at=ago(1))
    with commit():
        assert images_sweep()["jobs"] == 1
    batch.refresh_from_db()
    assert (batch.status, batch.waits, batch.message) == (Batch.Status.DONE, 0, "")
    assert not library.images.listed().exists()


def test_a_job_a_live_task_holds_is_left_alone_and_a_lost_one_is_resumed(personas, library, web):
    batch = batch_create(actor=personas["editor"], library=library, urls=[f"{web}/cat.jpg"])
    Batch.objects.filter(pk=batch.pk).update(
        lease_owner="task-1",
        lease_until=timezone.now() + timedelta(seconds=20),
        updated_at=ago(3600),
    )
    assert images_sweep()["jobs"] == 0
    Batch.objects.filter(pk=batch.pk).update(lease_until=ago(1))
    assert images_sweep()["jobs"] == 1
    batch.refresh_from_db()
    assert batch.cursor == 1 and batch.images.count() == 1


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


def test_a_url_download_job_another_live_task_holds_is_not_run_twice(
    personas, library, web, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):  # queued, not yet run
        batch = batch_create(actor=personas["editor"], library=library, urls=[f"{web}/cat.jpg"])
    Batch.objects.filter(pk=batch.pk).update(
        lease_owner="task-1", lease_until=timezone.now() + timedelta(seconds=20)
    )
    batch_fetch_task.delay(batch.pk)  # a second message for the same job
    batch.refresh_from_db()
    assert batch.cursor == 0 and batch.images.count() == 0
