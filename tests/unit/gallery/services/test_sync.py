"""gallery.services.sync: the backend side of add, update and delete, run by tasks."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from gallery.backends import backend_for
from gallery.backends.baidu import BaiduBackend
from gallery.labels import Labels
from gallery.models import Image, ImageStatus
from gallery.services import task_base
from gallery.services.images import image_update, images_delete
from gallery.services.sync import ADD_CHUNK, _finish_add, image_add_task, image_update_task
from gallery.services.task_base import MAX_RETRIES, WAIT_FIRST
from gallery.services.uploads import batch_add_files, batch_create
from searchapi.errors import ApiError
from tests.conftest import make_image
from tests.unit.gallery.kit import upload_image

pytestmark = pytest.mark.django_db


def test_backend_duplicate_of_another_row_is_linked_not_crashed(
    library, personas, baidu, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = upload_image(library, personas)
    # A second row with the same bytes (as if two uploads raced past the local check).
    twin = Image.objects.create(
        library=library,
        sha256=first.sha256,
        width=1,
        height=1,
        bytes=1,
        format="JPEG",
        brief="twin",
        original=first.original.name,
        status=ImageStatus.PENDING,
    )
    image_add_task.delay(twin.pk)
    twin.refresh_from_db()
    assert twin.status == ImageStatus.FAILED
    assert (twin.error_code, twin.duplicate_of) == ("216681", first)
    assert twin.cont_sign is None


def test_an_add_whose_answer_was_lost_is_recovered_not_duplicated(
    library, personas, baidu, django_capture_on_commit_callbacks
):
    baidu.lose_next_add_answer = True
    with django_capture_on_commit_callbacks(execute=True):
        image = upload_image(library, personas, brief="mine", labels=Labels(tags=(3,)))
    image.refresh_from_db()
    # The retry met 216681, found the stored copy by searching and took its cont_sign.
    assert image.status == ImageStatus.INDEXED
    assert image.cont_sign == baidu.cont_sign_of(make_image(1))
    assert len(baidu.libraries["same_hq"]) == 1
    assert [op for _, op, _ in baidu.calls] == ["add", "add", "search", "update"]


def test_transient_errors_are_retried_then_succeed(
    library, personas, baidu, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(task_base, "backoff", lambda retries: 0)
    baidu.fail("same_hq", "add", 282000, requests.ConnectTimeout("slow"))
    with django_capture_on_commit_callbacks(execute=True):
        image = upload_image(library, personas)
    image.refresh_from_db()
    assert image.status == ImageStatus.INDEXED
    assert [op for _, op, _ in baidu.calls] == ["add", "add", "add"]


def test_permanent_errors_fail_at_once_with_the_wire_error(
    library, personas, baidu, django_capture_on_commit_callbacks
):
    baidu.fail("same_hq", "add", 216201)
    with django_capture_on_commit_callbacks(execute=True):
        image = upload_image(library, personas)
    image.refresh_from_db()
    assert (image.status, image.error_code, image.error_msg) == (
        ImageStatus.FAILED,
        "216201",
        "image format error",
    )
    assert len(baidu.calls) == 1


def test_a_transient_error_that_outlives_the_retries_leaves_the_row_waiting_not_failed(
    library, personas, baidu, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(task_base, "backoff", lambda retries: 0)
    baidu.fail("same_hq", "add", *[282000] * (MAX_RETRIES + 1))
    with django_capture_on_commit_callbacks(execute=True):
        image = upload_image(library, personas)
    image.refresh_from_db()
    assert (image.status, image.error_code, image.waits) == (ImageStatus.PENDING, "282000", 1)
    assert image.waiting and image.status_label == "Waiting for the backend"
    wait = image.next_attempt_at - timezone.now()
    assert timedelta(seconds=WAIT_FIRST - 5) < wait <= timedelta(seconds=WAIT_FIRST)
    assert (image.lease_owner, image.lease_until) == ("", None)
    assert len(baidu.calls) == MAX_RETRIES + 1


def test_an_edit_whose_retries_run_out_stays_pending_instead_of_being_dropped(
    library, personas, baidu, commit, monkeypatch
):
    monkeypatch.setattr(task_base, "backoff", lambda retries: 0)
    with commit():
        image = upload_image(library, personas, brief="old")
    baidu.fail("same_hq", "update", *[requests.ConnectionError("down")] * (MAX_RETRIES + 1))
    with commit():
        image_update(actor=personas["editor"], image=image, brief="new")
    image.refresh_from_db()
    assert image.pending_update["brief"] == "new" and image.brief == "old"
    assert (image.error_code, image.waits) == ("connection", 1)
    assert image.next_attempt_at is not None
    image_update_task.delay(image.pk)  # the sweeper's attempt once the wait is over
    image.refresh_from_db()
    assert (image.brief, image.pending_update, image.error_code) == ("new", None, "")
    assert (image.waits, image.next_attempt_at) == (0, None)


def test_a_delete_the_backend_refuses_waits_and_is_tried_again_later(
    library, personas, baidu, commit
):
    with commit():
        image = upload_image(library, personas)
    baidu.fail("same_hq", "delete", 216100)  # permanent, yet the image must still go
    with commit():
        images_delete(actor=personas["editor"], images=[image])
    image.refresh_from_db()
    assert (image.status, image.error_code, image.waits) == (ImageStatus.DELETING, "216100", 1)
    assert image.next_attempt_at is not None


def test_a_task_for_a_finished_row_does_nothing(
    library, personas, baidu, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        image = upload_image(library, personas)
    calls = len(baidu.calls)
    image_add_task.delay(image.pk)
    image_add_task.delay(999_999)
    assert len(baidu.calls) == calls


def test_a_delete_during_an_add_removes_what_the_add_stored(
    library, personas, baidu, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        image = upload_image(library, personas)
    Image.objects.filter(pk=image.pk).update(status=ImageStatus.INDEXING)  # add in flight
    with django_capture_on_commit_callbacks(execute=False):
        images_delete(actor=personas["editor"], images=[image])
    # The in-flight add now lands.
    with django_capture_on_commit_callbacks(execute=True):
        _finish_add(image.pk, backend_for(library.application), cont_sign="1,2")
    image.refresh_from_db()
    assert image.status == ImageStatus.DELETED


def test_a_broker_outage_leaves_the_row_pending(
    library, personas, baidu, monkeypatch, django_capture_on_commit_callbacks
):
    def down(*args, **kwargs):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(image_add_task, "delay", down)
    with django_capture_on_commit_callbacks(execute=True):
        image = upload_image(library, personas)
    image.refresh_from_db()
    assert image.status == ImageStatus.PENDING
    # Marked for the next sweep, which need not wait for the row to look stale.
    assert image.next_attempt_at is not None and image.next_attempt_at <= timezone.now()
    assert not image.waiting


def test_a_second_add_leaves_alone_a_row_that_a_live_task_holds(library, personas, baidu):
    image = upload_image(library, personas)  # not queued: no commit in this test
    held_until = timezone.now() + timedelta(seconds=20)
    Image.objects.filter(pk=image.pk).update(
        status=ImageStatus.INDEXING, lease_owner="another-task", lease_until=held_until
    )
    image_add_task.delay(image.pk)
    image.refresh_from_db()
    assert baidu.calls == []
    assert (image.status, image.lease_owner) == (ImageStatus.INDEXING, "another-task")
    # Once that lease has run out (its worker died), an add takes the row over.
    Image.objects.filter(pk=image.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    image_add_task.delay(image.pk)
    image.refresh_from_db()
    assert (image.status, image.lease_owner, image.lease_until) == (ImageStatus.INDEXED, "", None)


def test_an_add_task_of_several_rows_sends_only_those_it_holds(library, personas, baidu):
    rows = [upload_image(library, personas, seed=s) for s in (1, 2, 3)]  # not queued
    Image.objects.filter(pk=rows[1].pk).update(
        status=ImageStatus.INDEXING,
        lease_owner="another-task",
        lease_until=timezone.now() + timedelta(seconds=20),
    )
    image_add_task.delay([row.pk for row in rows])
    states = dict(Image.objects.values_list("pk", "status"))
    assert [states[row.pk] for row in rows] == ["indexed", "indexing", "indexed"]
    assert [op for _, op, _ in baidu.calls] == ["add", "add"]


def test_a_transient_error_in_an_add_task_keeps_the_rows_done_and_retries_the_rest(
    library, personas, baidu, monkeypatch
):
    monkeypatch.setattr(task_base, "backoff", lambda retries: 0)
    rows = [upload_image(library, personas, seed=s) for s in (1, 2, 3)]
    sent: list[int] = []
    add = BaiduBackend.add

    def add_and_fail_the_second(self, library, row, *, image):
        sent.append(row.pk)
        if len(sent) == 2:
            raise ApiError("connection", "reset", retryable=True)
        return add(self, library, row, image=image)

    monkeypatch.setattr(BaiduBackend, "add", add_and_fail_the_second)
    image_add_task.delay([row.pk for row in rows])
    # The first stayed done; the retry sent the second again and then the third, once each.
    assert sent == [rows[0].pk, rows[1].pk, rows[1].pk, rows[2].pk]
    assert set(Image.objects.values_list("status", flat=True)) == {"indexed"}


def test_the_files_of_one_request_are_queued_as_one_add_task(
    library, personas, baidu, monkeypatch, django_capture_on_commit_callbacks
):
    queued: list[list[int]] = []
    monkeypatch.setattr(image_add_task, "delay", lambda ids: queued.append(ids))
    batch = batch_create(actor=personas["editor"], library=library)
    files = [(make_image(seed), f"{seed}.jpg") for seed in range(1, 11)]
    with django_capture_on_commit_callbacks(execute=True):
        added = batch_add_files(batch=batch, files=files)
    ids = [row.pk for row in added if isinstance(row, Image)]
    assert len(ids) == len(files)
    assert queued == [ids[:ADD_CHUNK], ids[ADD_CHUNK:]]
