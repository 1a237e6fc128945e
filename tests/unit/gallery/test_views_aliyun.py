"""Alibaba applications and instances through the console's pages: a built-in application with
its AccessKey shown once, instances created in the engine, a hosted application whose keys and
instance are checked with the hosted endpoint stubbed at the transport."""

from __future__ import annotations

import pytest
from django.urls import reverse

from engine.models import AliyunInstance
from gallery.models import Application, ImageStatus, Library, Picture
from tests.unit.gallery.kit import jpeg
from wire.aliyun import hosted_endpoint

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_client(client, personas):
    client.force_login(personas["owner"])
    return client


def create(client, **data):
    return client.post(
        reverse("gallery:application-new"),
        {"name": "Shop", "qps_tier": "default", **data},
    )


def test_a_builtin_alibaba_application_shows_its_access_key_once(owner_client, aliyun_engine):
    response = create(owner_client, backend="builtin_aliyun")
    app = Application.objects.get()
    assert response.status_code == 302 and app.backend == "builtin_aliyun"
    page = owner_client.get(reverse("gallery:application", args=[app.pk])).content.decode()
    assert "AccessKey ID" in page and app.api_key in page and str(app.secret_key) in page
    assert "AppID" not in page and "Create an instance" in page
    again = owner_client.get(reverse("gallery:application", args=[app.pk])).content.decode()
    assert str(app.secret_key) not in again


def test_an_instance_is_created_in_the_engine_and_listed(owner_client, aliyun_engine):
    create(owner_client, backend="builtin_aliyun")
    app = Application.objects.get()
    url = reverse("gallery:library-new", args=[app.pk])
    response = owner_client.post(
        url, {"instance_name": "shoes", "service": "product", "capacity": "2000"}
    )
    library = Library.objects.get()
    assert response.status_code == 302, response.content.decode()[:2000]
    assert (library.instance_name, library.service, library.capacity) == ("shoes", "product", 2000)
    engine = AliyunInstance.objects.get()
    assert (engine.name, engine.service_type, engine.library.capacity) == ("shoes", 0, 2000)
    page = owner_client.get(reverse("gallery:application", args=[app.pk])).content.decode()
    assert 'data-instance="shoes"' in page and "0 of 2,000 images" in page
    twice = owner_client.post(url, {"instance_name": "shoes", "service": "similar"})
    assert twice.status_code == 400 and "already has that instance" in twice.content.decode()
    too_long = owner_client.post(url, {"instance_name": "x" * 21, "service": "similar"})
    assert too_long.status_code == 400 and "at most 20 characters" in too_long.content.decode()


def test_a_hosted_application_needs_its_access_key(owner_client):
    response = create(owner_client, backend="aliyun")
    page = response.content.decode()
    assert response.status_code == 400 and "Copy this value from Alibaba" in page
    assert not Application.objects.exists()


def test_a_bad_region_is_named_beside_its_field(owner_client, aliyun_engine):
    response = create(
        owner_client, backend="aliyun", access_key_id="id", access_key_secret="s", region="Mars"
    )
    assert (
        response.status_code == 400
        and "A region id such as cn-shanghai" in response.content.decode()
    )


def test_a_baidu_application_still_needs_a_service(owner_client):
    response = create(owner_client, backend="builtin")
    assert response.status_code == 400 and "Tick at least one service." in response.content.decode()


def test_the_hosted_endpoint_follows_the_region():
    assert hosted_endpoint("ap-southeast-1") == ("https://imagesearch.ap-southeast-1.aliyuncs.com")


@pytest.fixture
def instance(owner_client, aliyun_engine, personas):
    create(owner_client, backend="builtin_aliyun")
    app = Application.objects.get()
    owner_client.post(
        reverse("gallery:library-new", args=[app.pk]),
        {"instance_name": "shoes", "service": "product", "capacity": "100"},
    )
    return Library.objects.get()


def test_the_upload_page_asks_for_the_picture_fields(owner_client, instance):
    page = owner_client.get(reverse("gallery:upload", args=[instance.pk])).content.decode()
    for name in (
        "product_id",
        "pic_name",
        "category_id",
        "int_attr1",
        "str_attr4",
        "custom_content",
    ):
        assert f'name="{name}"' in page
    assert 'name="brief"' not in page and 'name="tags"' not in page
    assert "at most 4 MiB" in page and "GIF" in page


def test_an_uploaded_picture_keeps_its_fields(owner_client, instance, commit):
    with commit():
        response = owner_client.post(
            reverse("gallery:upload", args=[instance.pk]),
            {
                "files": [jpeg("red shoe_2.jpg", 3)],
                "product_id": "",
                "category_id": "4",
                "int_attr1": "42",
                "str_attr2": "red",
                "custom_content": "Leather, size 42",
            },
            HTTP_ACCEPT="application/json",
        )
    assert response.json()["ok"] and response.json()["results"][0]["ok"], response.json()
    picture = Picture.objects.get()
    assert (picture.product_id, picture.pic_name, picture.category_id) == (
        "red shoe",
        "red shoe_2.jpg",
        4,
    )
    assert (picture.int_attr1, picture.str_attr2, picture.custom_content) == (
        42,
        "red",
        "Leather, size 42",
    )
    assert picture.image.status == ImageStatus.INDEXED and picture.category_used == 4


def test_a_bad_attribute_is_named_beside_its_field(owner_client, instance):
    response = owner_client.post(
        reverse("gallery:upload", args=[instance.pk]),
        {"files": [jpeg("a.jpg", 3)], "str_attr1": "50%"},
        HTTP_ACCEPT="application/json",
    )
    errors = response.json()["errors"]
    assert response.status_code == 400 and "not allowed: %" in errors["str_attr1"][0]["message"]
    assert not Picture.objects.exists()


def test_a_batch_gives_every_file_the_product_and_its_own_name(owner_client, instance, commit):
    with commit():
        response = owner_client.post(
            reverse("gallery:batch-new", args=[instance.pk]),
            {"files": [jpeg("a.jpg", 3), jpeg("b.jpg", 4)], "product_id": "sku-9", "pic_name": "x"},
            HTTP_ACCEPT="application/json",
        )
    assert response.json()["ok"]
    rows = sorted(Picture.objects.values_list("product_id", "pic_name"))
    assert rows == [("sku-9", "a.jpg"), ("sku-9", "b.jpg")]


def upload_pictures(client, instance, commit):
    with commit():
        for name, seed, attr in (("sku-1_1.jpg", 3, "42"), ("sku-2_1.jpg", 4, "7")):
            client.post(
                reverse("gallery:upload", args=[instance.pk]),
                {"files": [jpeg(name, seed)], "int_attr1": attr},
                HTTP_ACCEPT="application/json",
            )
    assert Picture.objects.filter(image__status=ImageStatus.INDEXED).count() == 2


def search(client, instance, **data):
    response = client.post(reverse("gallery:search", args=[instance.pk]), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    return client.get(response["Location"])


def test_a_search_shows_the_original_first_with_its_subject_box(owner_client, instance, commit):
    upload_pictures(owner_client, instance, commit)
    page = search(owner_client, instance, image=jpeg("q.jpg", 3)).content.decode()
    first = page.index('class="cell hit"')
    assert "sku-1_1.jpg" in page[first : first + 1500] and "1.00" in page[first : first + 1500]
    assert "data-box=" in page and "data-subject-result" in page
    assert "2 matching pictures" in page


def test_a_filter_built_from_fields_narrows_the_search(owner_client, instance, commit):
    upload_pictures(owner_client, instance, commit)
    page = search(
        owner_client,
        instance,
        image=jpeg("q.jpg", 3),
        f1_field="int_attr",
        f1_op="<",
        f1_value="10",
    ).content.decode()
    assert "sku-2_1.jpg" in page and "sku-1_1.jpg" not in page


def test_a_filter_that_cannot_be_stated_is_refused_beside_its_field(owner_client, instance):
    response = owner_client.post(
        reverse("gallery:search", args=[instance.pk]),
        {"image": jpeg("q.jpg", 3), "f1_field": "int_attr", "f1_value": "many"},
    )
    assert response.status_code == 400
    assert "IntAttr compares with a whole number." in response.content.decode()


def test_a_drawn_box_searches_again_without_sending_the_picture(owner_client, instance, commit):
    upload_pictures(owner_client, instance, commit)
    first = search(owner_client, instance, image=jpeg("q.jpg", 3))
    token = first.context["query_token"]
    again = search(owner_client, instance, q=token, region="0,200,0,150").content.decode()
    assert "0,200,0,150" in again


def test_search_with_a_stored_picture_uses_its_name(owner_client, instance, commit):
    upload_pictures(owner_client, instance, commit)
    row = Picture.objects.get(pic_name="sku-2_1.jpg").image
    page = search(owner_client, instance, image_id=row.pk).content.decode()
    first = page.index('class="cell hit"')
    assert "sku-2_1.jpg" in page[first : first + 1500]


def test_is_this_picture_here_asks_by_product_and_name(owner_client, instance, commit):
    upload_pictures(owner_client, instance, commit)
    url = reverse("gallery:instance-check", args=[instance.pk])
    yes = owner_client.post(url, {"product_id": "sku-1", "pic_name": "sku-1_1.jpg"})
    assert "Yes: the instance holds this picture." in yes.content.decode()
    no = owner_client.post(url, {"product_id": "sku-1", "pic_name": "other.jpg"})
    assert "No: the instance holds no picture" in no.content.decode()


def test_two_pictures_are_compared_by_the_instance(owner_client, instance):
    url = reverse("gallery:instance-compare", args=[instance.pk])
    same = owner_client.post(url, {"first": jpeg("a.jpg", 3), "second": jpeg("b.jpg", 3)})
    assert same.context["score"] == 1.0
    # The file fields come back empty, so the result names the two files it compared.
    assert "“a.jpg” compared with “b.jpg”" in same.content.decode()
    other = owner_client.post(url, {"first": jpeg("a.jpg", 3), "second": jpeg("b.jpg", 9)})
    assert other.context["score"] < 1.0


def test_a_fabric_instance_refuses_small_pictures_by_its_own_limits(owner_client, aliyun_engine):
    create(owner_client, backend="builtin_aliyun")
    app = Application.objects.get()
    owner_client.post(
        reverse("gallery:library-new", args=[app.pk]),
        {"instance_name": "cloth", "service": "materiel", "capacity": "100"},
    )
    fabric = Library.objects.get()
    page = owner_client.get(reverse("gallery:upload", args=[fabric.pk])).content.decode()
    assert "each side 448–4096 px" in page
    response = owner_client.post(
        reverse("gallery:upload", args=[fabric.pk]),
        {"files": [jpeg("small.jpg", 3)]},  # 320 x 240
        HTTP_ACCEPT="application/json",
    )
    error = response.json()["results"][0]["error"]
    assert error["code"] == "UnsupportedPicPixels" and "320×240" in error["message"]
    assert "outside what the instance's type accepts" in error["explanation"]
    assert not Picture.objects.exists()


def test_the_products_page_groups_the_pictures(owner_client, instance, commit):
    with commit():
        for name, seed in (("sku-1_1.jpg", 3), ("sku-1_2.jpg", 4), ("sku-2_1.jpg", 5)):
            owner_client.post(
                reverse("gallery:upload", args=[instance.pk]),
                {"files": [jpeg(name, seed)]},
                HTTP_ACCEPT="application/json",
            )
    page = owner_client.get(reverse("gallery:library-products", args=[instance.pk]))
    products = [(p.product_id, p.pictures) for p in page.context["page"].products]
    assert products == [("sku-1", 2), ("sku-2", 1)]
    assert "?product_id=sku-1" in page.content.decode()
    listing = owner_client.get(
        reverse("gallery:library", args=[instance.pk]), {"product_id": "sku-1"}
    )
    assert listing.status_code == 200 and len(listing.context["page"].images) == 2
