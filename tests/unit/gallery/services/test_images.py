"""gallery.services.images: edit and delete of stored images."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from gallery.labels import Labels
from gallery.models import ImageStatus
from gallery.services.images import image_update, images_delete
from gallery.services.sync import image_add_task, image_update_task
from tests.unit.gallery.kit import files_under, upload_image

pytestmark = pytest.mark.django_db


def test_edit_waits_for_the_backend_before_the_row_changes(
    library, personas, baidu, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        image = upload_image(library, personas, brief="old", labels=Labels(tags=(1,)))
    baidu.fail("same_hq", "update", 282000)
    with django_capture_on_commit_callbacks(execute=False):
        image_update(actor=personas["editor"], image=image, brief="new", labels=Labels(tags=(2, 5)))
    image.refresh_from_db()
    assert (image.brief, image.tags) == ("old", [1])
    assert image.pending_update == {
        "brief": "new",
        "tags": [2, 5],
        "class_id1": None,
        "class_id2": None,
    }
    baidu.failures.clear()
    image_update_task.delay(image.pk)
    image.refresh_from_db()
    assert (image.brief, image.tags, image.pending_update) == ("new", [2, 5], None)
    assert baidu.libraries["same_hq"][image.cont_sign].brief == "new"


def test_edit_of_a_vanished_image_is_kept_for_a_push_again(
    library, personas, baidu, django_capture_on_commit_callbacks, media
):
    with django_capture_on_commit_callbacks(execute=True):
        image = upload_image(library, personas, brief="old")
    baidu.libraries["same_hq"].clear()  # deleted at Baidu, behind Tuku's back
    with django_capture_on_commit_callbacks(execute=True):
        image_update(actor=personas["editor"], image=image, brief="new")
    image.refresh_from_db()
    assert (image.brief, image.pending_update, image.error_code) == ("new", None, "216680")
    assert image.status == "failed" and image.cont_sign is None
    assert (media / image.original.name).is_file()


def test_labels_cannot_be_removed_from_an_indexed_image(
    library, personas, baidu, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        image = upload_image(library, personas, labels=Labels(tags=(4,)))
    with pytest.raises(ValidationError, match="cannot remove"):
        image_update(actor=personas["editor"], image=image, labels=Labels())


def test_delete_removes_remote_image_files_and_keeps_a_tombstone(
    library, personas, baidu, media, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        image = upload_image(library, personas)
        other = upload_image(library, personas, seed=2)
    with django_capture_on_commit_callbacks(execute=True):
        images_delete(actor=personas["editor"], images=[image, other])
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
        image = upload_image(library, personas)
    baidu.libraries["same_hq"].clear()
    with django_capture_on_commit_callbacks(execute=True):
        images_delete(actor=personas["editor"], images=[image])
    image.refresh_from_db()
    assert image.status == ImageStatus.DELETED


def test_a_row_never_sent_is_deleted_locally(
    library, personas, baidu, media, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        image = upload_image(library, personas)
    with django_capture_on_commit_callbacks(execute=True):
        images_delete(actor=personas["editor"], images=[image])
    image_add_task.delay(image.pk)  # the add queued before the delete now finds a tombstone
    image.refresh_from_db()
    assert image.status == ImageStatus.DELETED
    assert baidu.calls == [] and files_under(media) == []
