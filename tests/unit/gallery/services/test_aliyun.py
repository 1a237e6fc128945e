"""Alibaba instances in the console: a built-in application, an instance, pictures uploaded with
product ids and attributes, through the real task pipeline to the real engine's Alibaba wire
(in-process, tests/engine_wsgi.py), searched, replaced and deleted."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import ValidationError
from PIL import Image as PILImage

from engine.models import AliyunImage
from gallery.backends import backend_for
from gallery.images import ImageInvalid
from gallery.models import Image, ImageStatus, Picture
from gallery.pictures import PictureFields, names_from_filename
from gallery.services.applications import application_create
from gallery.services.images import images_delete
from gallery.services.libraries import library_create
from gallery.services.uploads import image_upload
from tests.conftest import make_image
from wire.aliyun import picture_ref

pytestmark = pytest.mark.django_db


@pytest.fixture
def instance(aliyun_engine, personas):
    app = application_create(
        actor=personas["owner"], name="Shop", backend="builtin_aliyun", services=["similar"]
    )
    return library_create(
        actor=personas["owner"], application=app, service="product", instance_name="shoes"
    )


def upload(library, personas, seed, commit, filename="sku-1_1.jpg", **fields):
    with commit():
        return image_upload(
            actor=personas["editor"],
            library=library,
            data=make_image(seed),
            filename=filename,
            picture=PictureFields(**fields),
        )


def test_the_default_names_come_from_the_file_name():
    assert names_from_filename("sku-123_2.jpg") == ("sku-123", "sku-123_2.jpg")
    assert names_from_filename("dir/Red Shoe - back.PNG") == ("Red Shoe", "Red Shoe - back.PNG")
    assert names_from_filename("plain.jpg") == ("plain", "plain.jpg")
    assert names_from_filename("AB-123.jpg") == ("AB-123", "AB-123.jpg")
    assert names_from_filename("AB-123 (2).jpg") == ("AB-123", "AB-123 (2).jpg")


def test_a_builtin_application_gets_an_access_key_and_an_instance_in_the_engine(instance):
    app = instance.application
    assert app.aliyun and app.builtin and app.services == [] and app.region == "cn-shanghai"
    assert app.api_key and app.secret_key
    assert instance.instance_name == "shoes" and instance.service == "product"
    assert backend_for(app).library_size(instance) == 0
    with pytest.raises(ValidationError) as caught:
        library_create(actor=None, application=app, service="similar", instance_name="shoes")
    assert "instance_name" in caught.value.message_dict


def test_a_picture_goes_through_the_pipeline_and_is_found_first(instance, personas, commit):
    row = upload(
        instance,
        personas,
        1,
        commit,
        int_attrs=(3, None, None, None),
        str_attrs=("red", "", "", ""),
    )
    row.refresh_from_db()
    assert row.status == ImageStatus.INDEXED, (row.error_code, row.error_msg)
    assert row.cont_sign == picture_ref("sku-1", "sku-1_1.jpg") and row.brief == "sku-1_1.jpg"
    stored = AliyunImage.objects.get()
    assert (stored.product_id, stored.pic_name, stored.int_attr, stored.str_attr) == (
        "sku-1",
        "sku-1_1.jpg",
        3,
        "red",
    )
    picture = Picture.objects.get(image=row)
    assert picture.region  # the subject box the engine stored it with
    other = upload(instance, personas, 2, commit, filename="sku-2.jpg")
    page = backend_for(instance.application).search(instance, image=make_image(1))
    assert page.hits[0].ref == row.cont_sign and page.hits[0].score == 1.0
    assert other.pk != row.pk


def test_the_same_pair_again_replaces_the_picture(instance, personas, commit):
    first = upload(instance, personas, 1, commit)
    second = upload(instance, personas, 5, commit)  # same file name: same pair, new bytes
    first.refresh_from_db()
    second.refresh_from_db()
    assert second.status == ImageStatus.INDEXED and first.status == ImageStatus.DELETED
    assert not first.original and AliyunImage.objects.count() == 1


def test_the_same_bytes_may_be_two_pictures(instance, personas, commit):
    upload(instance, personas, 1, commit, filename="a.jpg")
    upload(instance, personas, 1, commit, filename="b.jpg")
    assert Image.objects.filter(status=ImageStatus.INDEXED).count() == 2
    assert AliyunImage.objects.count() == 2


def test_a_deleted_picture_leaves_the_instance(instance, personas, commit):
    row = upload(instance, personas, 1, commit)
    with commit():
        images_delete(actor=personas["editor"], images=[row])
    row.refresh_from_db()
    assert row.status == ImageStatus.DELETED and AliyunImage.objects.count() == 0


def test_bad_fields_are_named(instance, personas, commit):
    with pytest.raises(ValidationError) as caught:
        upload(
            instance,
            personas,
            1,
            commit,
            str_attrs=("a$b", "", "", ""),
            int_attrs=(2**31, None, None, None),
            category_id=12,
        )
    assert set(caught.value.message_dict) == {"str_attr1", "int_attr1", "category_id"}
    assert not Image.objects.exists()


def test_a_rotation_flag_is_refused_as_alibaba_does(instance, personas):
    picture = PILImage.open(io.BytesIO(make_image(1)))
    exif = PILImage.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    picture.save(out, "JPEG", exif=exif)
    with pytest.raises(ImageInvalid) as caught:
        image_upload(
            actor=personas["editor"], library=instance, data=out.getvalue(), filename="r.jpg"
        )
    assert caught.value.code == "IncorrectOrientation"
