"""gallery.services.task_base: the lease a task holds on its rows, and the waits."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from gallery.models import Image
from gallery.services import task_base
from gallery.services.task_base import WAIT_MAX, Lease, wait_after
from tests.unit.gallery.kit import upload_image


def lease_of(image):
    return Image.objects.values_list("lease_owner", "lease_until").get(pk=image.pk)


def test_the_wait_doubles_up_to_ten_minutes():
    assert [wait_after(n).total_seconds() for n in range(1, 7)] == [60, 120, 240, 480, 600, 600]
    assert WAIT_MAX == 600


@pytest.mark.django_db
def test_a_lease_keeps_other_tasks_out_until_it_is_let_go_or_runs_out(library, personas):
    image = upload_image(library, personas)
    rows = Image.objects.filter(pk=image.pk)
    first, second = Lease(rows, "task-1"), Lease(rows, "task-2")
    assert first.take()
    assert not second.take()
    first.extend(120)  # a retry's countdown
    owner, until = lease_of(image)
    assert owner == "task-1" and until > timezone.now() + timedelta(seconds=140)
    assert Lease(rows, "task-1").take()  # the retry itself: the same task id
    first.release()
    assert lease_of(image) == ("", None)
    assert second.take()
    rows.update(lease_until=timezone.now() - timedelta(seconds=1))  # task-2's worker died
    assert Lease(rows, "task-3").take()
    assert lease_of(image)[0] == "task-3"


@pytest.mark.django_db(transaction=True)
def test_a_task_renews_its_lease_while_its_call_runs(library, personas, monkeypatch):
    monkeypatch.setattr(task_base, "HEARTBEAT_SECONDS", 0.05)
    image = upload_image(library, personas)
    lease = Lease(Image.objects.filter(pk=image.pk), "task-1")
    lease.take()
    taken_until = lease_of(image)[1]
    with lease.kept():
        time.sleep(0.5)
    assert lease_of(image)[1] > taken_until + timedelta(seconds=0.3)


@pytest.mark.django_db
def test_a_message_leases_its_rows_when_a_worker_takes_it(
    library, personas, django_capture_on_commit_callbacks
):
    from types import SimpleNamespace

    from gallery.services.sync import image_add_task

    with django_capture_on_commit_callbacks(execute=False):  # queued, not run
        image = upload_image(library, personas)
    arrived = SimpleNamespace(task=image_add_task, args=[image.pk], id="msg-1", eta=None)
    task_base.lease_on_arrival(request=arrived)
    owner, until = lease_of(image)
    assert owner == "msg-1" and until > timezone.now() + timedelta(seconds=20)
    # The task itself, started from that message, takes the lease over as the same owner.
    assert Lease(Image.objects.filter(pk=image.pk), "msg-1").take()
    # A retry waiting for its countdown keeps the longer lease it set before it was sent.
    Image.objects.filter(pk=image.pk).update(lease_until=timezone.now() + timedelta(hours=1))
    task_base.lease_on_arrival(request=SimpleNamespace(**{**vars(arrived), "eta": "later"}))
    assert lease_of(image)[1] > timezone.now() + timedelta(minutes=50)
