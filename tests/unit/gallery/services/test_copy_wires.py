"""Copying a library between the wires (gallery.services.jobs.library_copy): a Baidu library
into a built-in Alibaba instance, through the real task pipeline to the real engine's Alibaba
wire in-process, and back into a Baidu library; instance into instance."""

from __future__ import annotations

import pytest

from engine.models import AliyunImage
from gallery.labels import Labels
from gallery.mapping import SourceRow
from gallery.models import Batch, Image, ImageSource, ImageStatus, Library, Picture
from gallery.pictures import PictureFields
from gallery.services.applications import application_create
from gallery.services.jobs import library_copy
from gallery.services.libraries import library_create
from gallery.services.uploads import image_upload
from tests.conftest import make_image

pytestmark = pytest.mark.django_db


@pytest.fixture
def aliyun_app(aliyun_engine, personas):
    return application_create(
        actor=personas["owner"], name="Ali", backend="builtin_aliyun", services=[]
    )


@pytest.fixture
def instance(aliyun_app, personas):
    return library_create(
        actor=personas["owner"], application=aliyun_app, service="product", instance_name="shoes"
    )


def put(library, personas, commit, seed, filename, size=(320, 240), **kwargs):
    with commit():
        row = image_upload(
            actor=personas["editor"],
            library=library,
            data=make_image(seed, size=size),
            filename=filename,
            **kwargs,
        )
    row.refresh_from_db()
    assert row.status == ImageStatus.INDEXED, (row.error_code, row.error_msg)
    return row


def api_row(library):
    """An image another client added through the API: mirrored, with no original kept."""
    return Image.objects.create(
        library=library,
        sha256="a" * 64,
        width=320,
        height=240,
        bytes=1000,
        format="JPEG",
        brief="from the api",
        source_kind=ImageSource.API,
        status=ImageStatus.INDEXED,
        cont_sign="11,22",
    )


def copy(personas, commit, source, target):
    with commit():
        batch = library_copy(actor=personas["editor"], source=source, target=target)
    batch.refresh_from_db()
    return batch


def stored(instance):
    return {
        (a.product_id, a.pic_name): (a.int_attr, a.int_attr2, a.int_attr3, a.custom_content)
        for a in AliyunImage.objects.filter(instance__name=instance.instance_name)
    }


def test_a_baidu_library_goes_into_an_instance_and_back(
    personas, commit, library, application, instance, baidu
):
    put(library, personas, commit, 1, "sku-1_1.jpg", labels=Labels((3, 4)))
    put(library, personas, commit, 2, "b.jpg", brief="Red shoe", labels=Labels((7,)))
    api_row(library)
    # The instance already holds another picture under the pair row 2 maps to: never replaced.
    put(instance, personas, commit, 99, "x.jpg", picture=PictureFields("Red shoe", "b.jpg"))

    batch = copy(personas, commit, library, instance)
    assert batch.status == Batch.Status.DONE and batch.total == 3
    assert [p["message"] for p in batch.problems] == [
        "Not copied: no original is kept (it was added through the API)."
    ]
    assert stored(instance) == {
        ("sku-1", "sku-1_1.jpg"): (3, 4, None, "sku-1_1.jpg"),
        ("Red shoe", "b (2).jpg"): (7, None, None, "Red shoe"),
        ("Red shoe", "b.jpg"): (None, None, None, ""),
    }
    copies = {
        p.pic_name: p
        for p in Picture.objects.filter(image__batch=batch, image__status=ImageStatus.INDEXED)
    }
    assert set(copies) == {"sku-1_1.jpg", "b (2).jpg"}
    assert copies["sku-1_1.jpg"].int_attrs == (3, 4, None, None)
    assert copies["sku-1_1.jpg"].category_used is not None  # predicted by the product instance
    assert {p.image.sha256 for p in copies.values()} == set(
        library.images.exclude(original="").values_list("sha256", flat=True)
    )

    # Again: the pictures already there are reported, not added twice or renamed.
    again = copy(personas, commit, library, instance)
    assert len(stored(instance)) == 3
    assert sum("already there" in p["message"] for p in again.problems) == 2

    # Back into a Baidu library: the briefs and tags as they were; a native picture's names.
    back = Library.objects.create(application=application, service="similar", registered=True)
    home = copy(personas, commit, instance, back)
    assert home.status == Batch.Status.DONE, home.problems
    rows = {r.brief: r.tags for r in back.images.filter(status=ImageStatus.INDEXED)}
    assert rows == {"sku-1_1.jpg": [3, 4], "Red shoe": [7], "Red shoe/b.jpg": []}
    held = {e.brief: e.tags for e in baidu.libraries["similar"].values()}
    assert held == {"sku-1_1.jpg": "3,4", "Red shoe": "7", "Red shoe/b.jpg": ""}


def test_class_ids_of_a_product_library_become_int_attr3_and_4(
    personas, commit, product_library, instance
):
    put(product_library, personas, commit, 3, "c.jpg", (400, 320), labels=Labels((), 5, 6))
    batch = copy(personas, commit, product_library, instance)
    assert batch.status == Batch.Status.DONE, batch.problems
    picture = AliyunImage.objects.get()
    assert (picture.product_id, picture.int_attr3, picture.int_attr4) == ("c", 5, 6)
    assert picture.int_attr is None


def test_an_instance_into_another_keeps_every_field_but_a_category_it_cannot_hold(
    personas, commit, aliyun_app, instance
):
    fields = PictureFields(
        "sku-5",
        "front.jpg",
        category_id=4,
        int_attrs=(1, -2, None, 2**31 - 1),
        str_attrs=("red", "", "", "xl"),
        custom_content="{json: true}",
    )
    put(instance, personas, commit, 5, "front.jpg", picture=fields)
    generic = library_create(
        actor=personas["owner"], application=aliyun_app, service="similar", instance_name="all"
    )
    # The preview reads rows as values, the job as models: the same fields either way.
    for row in Image.objects.filter(library=instance).select_related("picture"):
        values = Image.objects.filter(pk=row.pk).values_list(*SourceRow.FIELDS).get()
        assert SourceRow.from_values(values) == SourceRow.of(row)
    batch = copy(personas, commit, instance, generic)
    assert batch.status == Batch.Status.DONE, batch.problems
    picture = AliyunImage.objects.get(instance__name="all")
    assert (picture.product_id, picture.pic_name, picture.custom_content) == (
        "sku-5",
        "front.jpg",
        "{json: true}",
    )
    assert (picture.int_attr, picture.int_attr2, picture.int_attr3, picture.int_attr4) == (
        1,
        -2,
        None,
        2**31 - 1,
    )
    assert (picture.str_attr, picture.str_attr4) == ("red", "xl")
    copied = Picture.objects.get(image__library=generic)
    assert copied.category_id is None


def test_a_file_the_target_refuses_is_a_problem_of_the_job(personas, commit, library, instance):
    # 60 px high: Baidu's same_hq takes it (≥ 50), an Alibaba product instance does not (≥ 100).
    with commit():
        image_upload(
            actor=personas["editor"],
            library=library,
            data=make_image(8, size=(320, 60)),
            filename="thin.jpg",
        )
    batch = copy(personas, commit, library, instance)
    assert [p["code"] for p in batch.problems] == ["UnsupportedPicPixels"]
    assert not AliyunImage.objects.exists()
