"""The copy page (gallery.views.batches.library_copy): any library or instance the user may
upload to as the target, a preview of the mapping and of the first rows before anything
starts, then the job's page."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from gallery.labels import Labels
from gallery.models import Batch, Image, ImageSource, ImageStatus, Membership, Role
from gallery.pictures import PictureFields
from gallery.services.applications import application_create
from gallery.services.libraries import library_create
from gallery.services.uploads import image_upload
from tests.conftest import make_image
from tests.unit.gallery.kit import login

pytestmark = pytest.mark.django_db


@pytest.fixture
def instance(aliyun_engine, personas):
    app = application_create(
        actor=personas["owner"], name="Ali", backend="builtin_aliyun", services=[]
    )
    Membership.objects.create(user=personas["editor"], application=app, role=Role.EDITOR)
    return library_create(
        actor=personas["owner"], application=app, service="product", instance_name="shoes"
    )


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_targets_are_every_library_and_instance_the_user_may_upload_to(
    client, personas, library, instance
):
    url = reverse("gallery:library-copy", args=[library.pk])
    page = login(client, personas, "editor").get(url).content.decode()
    assert "Ali / shoes (Built-in engine, Alibaba wire, Product instance)" in page
    assert f'value="{library.pk}"' not in page  # not itself
    assert login(client, personas, "viewer").get(url).status_code == 403
    assert login(client, personas, "outsider").get(url).status_code == 404


def test_the_preview_shows_the_mapping_the_first_rows_and_what_is_skipped(
    client, personas, library, instance, commit
):
    with commit():
        for seed in range(1, 12):
            image_upload(
                actor=personas["editor"],
                library=library,
                data=make_image(seed),
                filename=f"sku-{seed}_1.jpg",
                labels=Labels((seed,)),
            )
    Image.objects.create(
        library=library,
        sha256="a" * 64,
        width=320,
        height=240,
        bytes=1000,
        format="JPEG",
        brief="from the api",
        source_kind=ImageSource.API,
        status=ImageStatus.INDEXED,
        cont_sign="1,1",
    )
    login(client, personas, "editor")
    url = reverse("gallery:library-copy", args=[library.pk])
    response = client.get(url, {"target": instance.pk})
    assert response.status_code == 200
    page = response.content.decode()
    words = text(page)
    assert "tag1, tag2 IntAttr, IntAttr2" in words  # the mapping table of this pair
    assert "ProductId sku-1 PicName sku-1_1.jpg IntAttr 1 CustomContent sku-1_1.jpg" in words
    assert page.count("data-row=") == 10
    assert "11 images will be uploaded." in words
    assert "1 image has no original kept (added through the API) and is skipped." in words
    assert "Every field is carried whole." in words
    assert "Start copy" in page and not Batch.objects.exists()  # a GET starts nothing

    with commit():
        started = client.post(url, {"target": instance.pk})
    batch = Batch.objects.get(kind=Batch.Kind.COPY)
    assert started.url == reverse("gallery:batch", args=[batch.pk])
    assert batch.library == instance and batch.source_library == library
    job = text(client.get(started.url).content.decode())
    assert "no original is kept" in job and batch.problems[0]["name"] == "from the api"


def test_the_preview_counts_what_a_baidu_library_cannot_hold(
    client, personas, library, instance, commit
):
    with commit():
        image_upload(
            actor=personas["editor"],
            library=instance,
            data=make_image(3),
            filename="p.jpg",
            picture=PictureFields(
                "sku-3",
                "p.jpg",
                int_attrs=(70000, 2, None, None),
                str_attrs=("red", "", "", ""),
                custom_content="商" * 100,
            ),
        )
    login(client, personas, "editor")
    url = reverse("gallery:library-copy", args=[instance.pk])
    words = text(client.get(url, {"target": library.pk}).content.decode())
    assert "CustomContent brief cut to 256 UTF-8 bytes" in words
    for line in (
        "IntAttr dropped: outside 1–65535 1",
        "StrAttr dropped: the target has no field for it 1",
        "CustomContent cut to fit 1",
    ):
        assert line in words
    assert f"brief {'商' * 85} tag1 2" in words


def test_a_target_not_offered_is_refused_beside_the_field(client, personas, library):
    login(client, personas, "editor")
    url = reverse("gallery:library-copy", args=[library.pk])
    assert client.get(url, {"target": library.pk}).status_code == 400
    assert client.post(url, {"target": 999999}).status_code == 400
    assert not Batch.objects.exists()
