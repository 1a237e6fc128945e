"""gallery.services.uploads: one image checked, stored and queued; upload batches."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from gallery.images import ImageInvalid
from gallery.labels import Labels
from gallery.models import ApiCall, Image, ImageStatus
from gallery.services import uploads
from gallery.services.uploads import DuplicateImage, image_upload
from tests.conftest import make_image
from tests.unit.gallery.kit import files_under, upload_image

pytestmark = pytest.mark.django_db


def test_upload_keeps_the_original_and_indexes_the_row(
    library, personas, baidu, media, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        image = upload_image(library, personas, brief="first", labels=Labels(tags=(7, 9)))
    image.refresh_from_db()
    assert image.status == ImageStatus.INDEXED
    assert image.cont_sign == baidu.cont_sign_of(make_image(1))
    assert image.original.read() == make_image(1)
    assert len(files_under(media)) == 2  # original and thumbnail
    service, operation, form = baidu.calls[-1]
    assert (service, operation, form["brief"], form["tags"]) == ("same_hq", "add", "first", "7,9")
    assert ApiCall.objects.filter(operation="add", error_code="").count() == 1


def test_brief_defaults_to_the_file_name(library, personas, baidu):
    image = upload_image(library, personas)
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
        image_upload(actor=personas["editor"], library=library, data=data, filename="x.jpg")
    assert refused.value.code == code
    assert Image.objects.count() == 0
    assert files_under(media) == []


def test_product_needs_300_px(product_library, personas):
    with pytest.raises(ImageInvalid, match="300"):
        image_upload(
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
        upload_image(library, personas, brief=brief, labels=labels)
    assert field in refused.value.message_dict
    assert files_under(media) == [] and Image.objects.count() == 0


def test_a_failed_row_write_leaves_no_file(library, personas, media, monkeypatch):
    def broken(*args, **kwargs):
        raise IntegrityError("disk full")

    monkeypatch.setattr(uploads, "activity_record", broken)
    with pytest.raises(IntegrityError):
        upload_image(library, personas)
    assert files_under(media) == []
    assert Image.objects.count() == 0


def test_same_bytes_twice_link_to_the_first(library, personas, baidu):
    first = upload_image(library, personas)
    with pytest.raises(DuplicateImage) as duplicate:
        upload_image(library, personas)
    assert duplicate.value.image == first
