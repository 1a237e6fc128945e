"""Upload, push, edit and delete of image rows against the (stubbed) hosted endpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from gallery import services, tasks
from gallery.images import ImageInvalid
from gallery.models import ApiCall, Image, ImageStatus
from gallery.services import DuplicateImage, Labels
from tests.conftest import make_image
from tests.fakebaidu import Entry

pytestmark = pytest.mark.django_db


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def upload(library, personas, seed=1, **kwargs):
    return services.image_upload(
        actor=personas["editor"],
        library=library,
        data=make_image(seed),
        filename=f"p{seed}.jpg",
        **kwargs,
    )


def test_upload_keeps_the_original_and_indexes_the_row(
    library, personas, baidu, media, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        image = upload(library, personas, brief="first", labels=Labels(tags=(7, 9)))
    image.refresh_from_db()
    assert image.status == ImageStatus.INDEXED
    assert image.cont_sign == baidu.cont_sign_of(make_image(1))
    assert image.original.read() == make_image(1)
    assert len(files_under(media)) == 2  # original and thumbnail
    service, operation, form = baidu.calls[-1]
    assert (service, operation, form["brief"], form["tags"]) == ("same_hq", "add", "first", "7,9")
    assert ApiCall.objects.filter(operation="add", error_code="").count() == 1


def test_brief_defaults_to_the_file_name(library, personas, baidu):
    image = upload(library, personas)
    assert image.brief == "p1.jpg"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", 216200),
        (b"GIF89a" + b"\0" * 100, 216201),
        (make_image(3, fmt="GIF"), 216201),
        (make_image(3)[:500], 216201),
        (make_image(3, size=(40, 400)), 216202),
        (make_image(3, size=(4100, 60)), 216202),
    ],
)
def test_bad_files_are_refused_before_anything_is_stored(library, personas, media, data, code):
    with pytest.raises(ImageInvalid) as refused:
        services.image_upload(
            actor=personas["editor"], library=library, data=data, filename="x.jpg"
        )
    assert refused.value.code == code
    assert Image.objects.count() == 0
    assert files_under(media) == []


def test_product_needs_300_px(product_library, personas):
    with pytest.raises(ImageInvalid, match="300"):
        services.image_upload(
            actor=personas["editor"],
            library=product_library,
            data=make_image(4, size=(299, 400)),
            filename="x.jpg",
        )


@pytest.mark.parametrize(
    ("brief", "labels", "field"),
    [
        ("é" * 129, Labels(), "brief"),
        ("ok", Labels(tags=(0,)), "tags"),
        ("ok", Labels(tags=(65536,)), "tags"),
        ("ok", Labels(tags=(1, 2, 3)), "tags"),
        ("ok", Labels(class_id1=5), "tags"),
    ],
)
def test_bad_fields_are_refused_by_field(library, personas, media, brief, labels, field):
    with pytest.raises(ValidationError) as refused:
        upload(library, personas, brief=brief, labels=labels)
    assert field in refused.value.message_dict
    assert files_under(media) == [] and Image.objects.count() == 0


def test_a_failed_row_write_leaves_no_file(library, personas, media, monkeypatch):
    def broken(*args, **kwargs):
        raise IntegrityError("disk full")

    monkeypatch.setattr(services, "activity_record", broken)
    with pytest.raises(IntegrityError):
        upload(library, personas)
    assert files_under(media) == []
    assert Image.objects.count() == 0


def test_same_bytes_twice_link_to_the_first(library, personas, baidu):
    first = upload(library, personas)
    with pytest.raises(DuplicateImage) as duplicate:
        upload(library, personas)
    assert duplicate.value.image == first


def test_backend_duplicate_of_another_row_is_linked_not_crashed(
    library, personas, baidu, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = upload(library, personas)
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
    tasks.image_add.delay(twin.pk)
    twin.refresh_from_db()
    assert twin.status == ImageStatus.FAILED
    assert (twin.error_code, twin.duplicate_of) == ("216681", first)
    assert twin.cont_sign is None


def test_an_add_whose_answer_was_lost_is_recovered_not_duplicated(
    library, personas, baidu, django_capture_on_commit_callbacks
):
    baidu.lose_next_add_answer = True
    with django_capture_on_commit_callbacks(execute=True):
        image = upload(library, personas, brief="mine", labels=Labels(tags=(3,)))
    image.refresh_from_db()
    # The retry met 216681, found the stored copy by searching and took its cont_sign.
    assert image.status == ImageStatus.INDEXED
    assert image.cont_sign == baidu.cont_sign_of(make_image(1))
    assert len(baidu.libraries["same_hq"]) == 1
    assert [op for _, op, _ in baidu.calls] == ["add", "add", "search", "update"]


def test_transient_errors_are_retried_then_succeed(
    library, personas, baidu, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(tasks, "backoff", lambda retries: 0)
    baidu.fail("same_hq", "add", 282000, requests.ConnectTimeout("slow"))
    with django_capture_on_commit_callbacks(execute=True):
        image = upload(library, personas)
    image.refresh_from_db()
    assert image.status == ImageStatus.INDEXED
    assert [op for _, op, _ in baidu.calls] == ["add", "add", "add"]


def test_permanent_errors_fail_at_once_with_the_wire_error(
    library, personas, baidu, django_capture_on_commit_callbacks
):
    baidu.fail("same_hq", "add", 216201)
    with django_capture_on_commit_callbacks(execute=True):
        image = upload(library, personas)
    image.refresh_from_db()
    assert (image.status, image.error_code, image.error_msg) == (
        ImageStatus.FAILED,
        "216201",
        "image format error",
    )
    assert len(baidu.calls) == 1


def test_retries_run_out_into_a_recorded_failure(
    library, personas, baidu, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(tasks, "backoff", lambda retries: 0)
    baidu.fail("same_hq", "add", *[282000] * (tasks.MAX_RETRIES + 1))
    with django_capture_on_commit_callbacks(execute=True):
        image = upload(library, personas)
    image.refresh_from_db()
    assert (image.status, image.error_code) == (ImageStatus.FAILED, "282000")


def test_a_task_for_a_finished_row_does_nothing(
    library, personas, baidu, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        image = upload(library, personas)
    calls = len(baidu.calls)
    tasks.image_add.delay(image.pk)
    tasks.image_add.delay(999_999)
    assert len(baidu.calls) == calls


def test_edit_waits_for_the_backend_before_the_row_changes(
    library, personas, baidu, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        image = upload(library, personas, brief="old", labels=Labels(tags=(1,)))
    baidu.fail("same_hq", "update", 282000)
    with django_capture_on_commit_callbacks(execute=False):
        services.image_edit(
            actor=personas["editor"], image=image, brief="new", labels=Labels(tags=(2, 5))
        )
    image.refresh_from_db()
    assert (image.brief, image.tags) == ("old", [1])
    assert image.pending_update == {
        "brief": "new",
        "tags": [2, 5],
        "class_id1": None,
        "class_id2": None,
    }
    baidu.failures.clear()
    tasks.image_update.delay(image.pk)
    image.refresh_from_db()
    assert (image.brief, image.tags, image.pending_update) == ("new", [2, 5], None)
    assert baidu.libraries["same_hq"][image.cont_sign].brief == "new"


def test_edit_of_a_vanished_image_is_reported(
    library, personas, baidu, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        image = upload(library, personas, brief="old")
    baidu.libraries["same_hq"].clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.image_edit(actor=personas["editor"], image=image, brief="new")
    image.refresh_from_db()
    assert (image.brief, image.pending_update, image.error_code) == ("old", None, "216680")


def test_labels_cannot_be_removed_from_an_indexed_image(
    library, personas, baidu, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        image = upload(library, personas, labels=Labels(tags=(4,)))
    with pytest.raises(ValidationError, match="cannot remove"):
        services.image_edit(actor=personas["editor"], image=image, labels=Labels())


def test_delete_removes_remote_image_files_and_keeps_a_tombstone(
    library, personas, baidu, media, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        image = upload(library, personas)
        other = upload(library, personas, seed=2)
    with django_capture_on_commit_callbacks(execute=True):
        services.images_delete(actor=personas["editor"], images_=[image, other])
    image.refresh_from_db()
    assert image.status == ImageStatus.DELETED and image.deleted_at is not None
    assert image.cont_sign  # the tombstone still maps search hits to a row
    assert baidu.libraries["same_hq"] == {}
    assert files_under(media) == []
    deletes = [form for _, op, form in baidu.calls if op == "delete"]
    assert len(deletes) == 1 and len(deletes[0]["cont_sign"].split(";")) == 2


def test_deleting_an_image_the_backend_lost_still_succeeds(
    library, personas, baidu, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        image = upload(library, personas)
    baidu.libraries["same_hq"].clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.images_delete(actor=personas["editor"], images_=[image])
    image.refresh_from_db()
    assert image.status == ImageStatus.DELETED


def test_a_row_never_sent_is_deleted_locally(
    library, personas, baidu, media, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        image = upload(library, personas)
    with django_capture_on_commit_callbacks(execute=True):
        services.images_delete(actor=personas["editor"], images_=[image])
    tasks.image_add.delay(image.pk)  # the add queued before the delete now finds a tombstone
    image.refresh_from_db()
    assert image.status == ImageStatus.DELETED
    assert baidu.calls == [] and files_under(media) == []


def test_a_delete_during_an_add_removes_what_the_add_stored(
    library, personas, baidu, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        image = upload(library, personas)
    Image.objects.filter(pk=image.pk).update(status=ImageStatus.INDEXING)  # add in flight
    with django_capture_on_commit_callbacks(execute=False):
        services.images_delete(actor=personas["editor"], images_=[image])
    # The in-flight add now lands.
    with django_capture_on_commit_callbacks(execute=True):
        services._finish_add(image.pk, cont_sign="1,2")
    image.refresh_from_db()
    assert image.status == ImageStatus.DELETED


def test_sweeper_dispatches_rows_that_waited_too_long(
    library, personas, baidu, settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):  # the broker "lost" the message
        image = upload(library, personas)
    settings.STALE_AFTER_SECONDS = 0
    assert tasks.images_sweep.delay().get() == {"adds": 1, "deletes": 0, "updates": 0, "jobs": 0}
    image.refresh_from_db()
    assert image.status == ImageStatus.INDEXED


def test_a_broker_outage_leaves_the_row_pending(
    library, personas, baidu, monkeypatch, django_capture_on_commit_callbacks
):
    def down(*args, **kwargs):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(tasks.image_add, "delay", down)
    with django_capture_on_commit_callbacks(execute=True):
        image = upload(library, personas)
    image.refresh_from_db()
    assert image.status == ImageStatus.PENDING


def test_search_maps_hits_to_rows_and_flags_tombstones(
    library, personas, baidu, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        kept = upload(library, personas, seed=1)
        gone = upload(library, personas, seed=2)
    kept.refresh_from_db()
    gone.refresh_from_db()
    outside = baidu.cont_sign_of(b"added by a script")
    baidu.libraries["same_hq"][outside] = Entry("x", "script-brief")
    with django_capture_on_commit_callbacks(execute=True):
        services.images_delete(actor=personas["editor"], images_=[gone])
    # The hosted delete has not propagated yet (spec §10).
    baidu.libraries["same_hq"][gone.cont_sign] = Entry("x", gone.brief)
    outcome = services.library_search(actor=personas["viewer"], library=library, data=make_image(1))
    by_sign = {m.hit.cont_sign: m for m in outcome.matches}
    assert outcome.matches[0].image == kept and outcome.matches[0].hit.score == 1.0
    assert by_sign[gone.cont_sign].deleted is True
    assert by_sign[outside].image is None
