"""An Alibaba picture's preview, edit and the deletes of a product or of a filter through the
console's pages (gallery/views/images.py), against the real engine's Alibaba wire in-process."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from engine.models import AliyunImage
from gallery.models import Image, ImageStatus, Membership, Role
from gallery.pictures import PictureFields
from gallery.services.applications import application_create
from gallery.services.libraries import library_create
from gallery.services.uploads import image_upload
from tests.conftest import make_image

pytestmark = pytest.mark.django_db


@pytest.fixture
def instance(aliyun_engine, personas):
    app = application_create(
        actor=personas["owner"], name="Shop", backend="builtin_aliyun", services=["similar"]
    )
    for role in (Role.EDITOR, Role.VIEWER):
        Membership.objects.create(user=personas[role.value], application=app, role=role)
    return library_create(
        actor=personas["owner"], application=app, service="product", instance_name="shoes"
    )


@pytest.fixture
def editor(client, personas):
    client.force_login(personas["editor"])
    return client


def upload(library, personas, seed, commit, filename, **fields):
    with commit():
        row = image_upload(
            actor=personas["editor"],
            library=library,
            data=make_image(seed),
            filename=filename,
            picture=PictureFields(**fields),
        )
    row.refresh_from_db()
    assert row.status == ImageStatus.INDEXED, (row.error_code, row.error_msg)
    return row


@pytest.fixture
def shoe(instance, personas, commit):
    return upload(
        instance,
        personas,
        1,
        commit,
        "sku-1_1.jpg",
        int_attrs=(42, None, None, None),
        str_attrs=("red", "", "", ""),
        custom_content="Leather",
    )


def test_the_preview_shows_the_picture_its_subject_box_and_its_fields(editor, shoe, instance):
    page = editor.get(reverse("gallery:image", args=[shoe.pk])).content.decode()
    picture = shoe.picture
    x1, x2, y1, y2 = (int(v) for v in picture.region.split(","))
    assert f'<rect x="{x1}" y="{y1}" width="{x2 - x1}" height="{y2 - y1}"' in page
    assert f'viewBox="0 0 {shoe.width} {shoe.height}"' in page
    assert "<dd data-product-id>sku-1</dd>" in page and "<dd data-pic-name>sku-1_1.jpg</dd>" in page
    assert '<dd data-attr="IntAttr">42</dd>' in page and '<dd data-attr="StrAttr">red</dd>' in page
    assert "<dd data-custom-content>Leather</dd>" in page
    assert f"used: {picture.category_used}" in page and "given: none (predicted)" in page
    listing = reverse("gallery:library", args=[instance.pk])
    assert f'href="{listing}?product_id=sku-1" data-product-link' in page
    assert 'name="image_id"' in page and "Search with this image" in page
    assert "cannot be changed" in page  # the identity note
    assert 'name="product_id"' not in page and 'name="brief"' not in page
    assert 'name="int_attr1"' in page and 'value="42"' in page and "Leather</textarea>" in page


def test_an_edit_is_accepted_by_the_engine_then_shown(editor, shoe, commit):
    with commit():
        response = editor.post(
            reverse("gallery:image-edit", args=[shoe.pk]),
            {
                "int_attr1": "43",
                "str_attr1": "blue",
                "str_attr2": "wide",
                "custom_content": "Suede",
            },
        )
    assert response.status_code == 302
    engine = AliyunImage.objects.get()
    assert (engine.int_attr, engine.str_attr, engine.str_attr2, engine.custom_content) == (
        43,
        "blue",
        "wide",
        "Suede",
    )
    shoe.refresh_from_db()
    assert shoe.pending_update is None
    page = editor.get(reverse("gallery:image", args=[shoe.pk])).content.decode()
    assert '<dd data-attr="StrAttr2">wide</dd>' in page and "Saved." in page


def field_error(page, name):
    found = re.search(rf'id="id_{name}_error" role="alert">([^<]*)<', page)
    return found.group(1) if found else None


def test_a_bad_character_is_refused_beside_its_field(editor, shoe):
    response = editor.post(
        reverse("gallery:image-edit", args=[shoe.pk]),
        {"int_attr1": "42", "str_attr1": "50%", "custom_content": "Leather"},
    )
    page = response.content.decode()
    assert response.status_code == 400
    assert "These characters are not allowed: %" in (field_error(page, "str_attr1") or "")
    assert AliyunImage.objects.get().str_attr == "red"
    shoe.refresh_from_db()
    assert shoe.pending_update is None


def test_clearing_a_stored_attribute_is_refused_beside_its_field(editor, shoe):
    response = editor.post(
        reverse("gallery:image-edit", args=[shoe.pk]),
        {"int_attr1": "42", "str_attr1": "", "custom_content": "Leather"},
    )
    page = response.content.decode()
    assert response.status_code == 400
    assert "cannot clear a value once stored" in (field_error(page, "str_attr1") or "")
    assert AliyunImage.objects.get().str_attr == "red"


def test_a_viewer_can_neither_edit_nor_delete(client, personas, shoe, instance):
    client.force_login(personas["viewer"])
    assert client.post(reverse("gallery:image-edit", args=[shoe.pk]), {}).status_code == 403
    url = reverse("gallery:pictures-delete-product", args=[instance.pk])
    assert client.get(url, {"product_id": "sku-1"}).status_code == 403
    client.force_login(personas["outsider"])
    assert client.get(url, {"product_id": "sku-1"}).status_code == 404


def test_a_product_is_deleted_once_its_id_is_typed(editor, instance, personas, commit):
    first = upload(instance, personas, 1, commit, "sku-1_1.jpg")
    second = upload(instance, personas, 2, commit, "sku-1_2.jpg")
    kept = upload(instance, personas, 3, commit, "other.jpg", product_id="sku-2")
    listing = editor.get(reverse("gallery:library", args=[instance.pk]), {"product_id": "sku-1"})
    url = reverse("gallery:pictures-delete-product", args=[instance.pk])
    assert f'href="{url}?product_id=sku-1" data-delete-product' in listing.content.decode()
    page = editor.get(url, {"product_id": "sku-1"}).content.decode()
    assert "2 of Tuku's pictures match" in page and "Type <code>sku-1</code>" in page
    wrong = editor.post(url, {"product_id": "sku-1", "confirm": "sku-2"})
    assert wrong.status_code == 400
    assert "Type the product id exactly" in (field_error(wrong.content.decode(), "confirm") or "")
    assert AliyunImage.objects.count() == 3
    with commit():
        right = editor.post(url, {"product_id": "sku-1", "confirm": "sku-1"})
    assert right.status_code == 302
    statuses = [Image.objects.get(pk=r.pk).status for r in (first, second, kept)]
    assert statuses == [ImageStatus.DELETED, ImageStatus.DELETED, ImageStatus.INDEXED]
    assert list(AliyunImage.objects.values_list("product_id", flat=True)) == ["sku-2"]


def test_pictures_matching_a_filter_are_deleted_once_the_count_is_typed(
    editor, instance, personas, commit
):
    a = upload(instance, personas, 1, commit, "a.jpg", int_attrs=(5, None, None, None))
    b = upload(instance, personas, 2, commit, "b.jpg", str_attrs=("red", "", "", ""))
    c = upload(instance, personas, 3, commit, "c.jpg", str_attrs=("blue", "", "", ""))
    url = reverse("gallery:pictures-delete-filter", args=[instance.pk])
    criteria = {
        "f1_field": "int_attr",
        "f1_op": ">=",
        "f1_value": "5",
        "f2_field": "str_attr",
        "f2_op": "=",
        "f2_value": "red",
        "match": "any",
    }
    page = editor.get(url, criteria).content.decode()
    assert "2 of Tuku's pictures match" in page and "The engine holds 2 matching" in page
    assert "Type <code>delete 2</code>" in page
    wrong = editor.post(url, {**criteria, "confirm": "delete 3"})
    assert wrong.status_code == 400
    assert "Type “delete 2” to confirm" in (field_error(wrong.content.decode(), "confirm") or "")
    assert AliyunImage.objects.count() == 3
    assert Image.objects.filter(status=ImageStatus.INDEXED).count() == 3
    with commit():
        right = editor.post(url, {**criteria, "confirm": "delete 2"})
    assert right.status_code == 302
    statuses = [Image.objects.get(pk=r.pk).status for r in (a, b, c)]
    assert statuses == [ImageStatus.DELETED, ImageStatus.DELETED, ImageStatus.INDEXED]
    assert list(AliyunImage.objects.values_list("pic_name", flat=True)) == ["c.jpg"]


def test_a_bad_condition_is_named_beside_its_value(editor, instance):
    url = reverse("gallery:pictures-delete-filter", args=[instance.pk])
    response = editor.get(url, {"f1_field": "int_attr", "f1_op": ">", "f1_value": "big"})
    assert response.status_code == 400
    assert "IntAttr compares with a whole number." in (
        field_error(response.content.decode(), "f1_value") or ""
    )
    response = editor.get(url, {"f1_field": "str_attr", "f1_op": ">", "f1_value": "a"})
    assert "str_attr takes one of = !=" in (
        field_error(response.content.decode(), "f1_value") or ""
    )
    assert editor.get(url).status_code == 200  # the empty form


def test_a_baidu_library_has_no_such_pages(client, personas, library):
    client.force_login(personas["editor"])
    url = reverse("gallery:pictures-delete-filter", args=[library.pk])
    assert client.get(url).status_code == 404
