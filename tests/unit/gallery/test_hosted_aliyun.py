"""A hosted Alibaba application in the console, with the hosted endpoint stubbed at the HTTP
transport only (tests/fakealiyun.py): keys tested with the real wire error shown, an instance
registered by Detail, a picture added with a transient refusal retried, deleted by pair."""

from __future__ import annotations

import pytest
import requests
from django.urls import reverse

from gallery.backends import aliyun as aliyun_backend
from gallery.models import ApiCall, Application, ImageStatus, Library, Picture
from tests.fakealiyun import FakeAliyun, FakeInstance
from tests.unit.gallery.kit import jpeg

pytestmark = pytest.mark.django_db
HOSTED = "https://imagesearch.cn-shanghai.aliyuncs.com"


@pytest.fixture
def hosted(monkeypatch) -> FakeAliyun:
    fake = FakeAliyun(instances={"shoes": FakeInstance(service_type=0, capacity=20_000)})
    real = aliyun_backend.http_session

    def session(*, public_only: bool) -> requests.Session:
        s = real(public_only=public_only)
        s.mount(HOSTED, fake)
        return s

    monkeypatch.setattr(aliyun_backend, "http_session", session)
    return fake


@pytest.fixture
def owner_client(client, personas):
    client.force_login(personas["owner"])
    return client


def create(client, fake: FakeAliyun, secret: str | None = None):
    return client.post(
        reverse("gallery:application-new"),
        {
            "name": "Hosted",
            "backend": "aliyun",
            "qps_tier": "default",
            "region": "cn-shanghai",
            "access_key_id": fake.access_key_id,
            "access_key_secret": secret or fake.access_key_secret,
        },
    )


def test_test_connection_shows_the_wire_error(owner_client, hosted):
    url = reverse("gallery:application-test")
    bad = owner_client.post(
        url,
        {
            "backend": "aliyun",
            "api_key": hosted.access_key_id,
            "secret_key": "wrong",
            "region": "cn-shanghai",
        },
    ).json()
    assert not bad["ok"] and bad["code"] == "NoPermission" and "AccessKey" in bad["explanation"]
    good = owner_client.post(
        url,
        {
            "backend": "aliyun",
            "api_key": hosted.access_key_id,
            "secret_key": hosted.access_key_secret,
            "region": "cn-shanghai",
        },
    ).json()
    assert good["ok"], good


def test_wrong_keys_are_refused_and_nothing_is_saved(owner_client, hosted):
    response = create(owner_client, hosted, secret="wrong")
    assert response.status_code == 400 and "NoPermission" in response.content.decode()
    assert not Application.objects.exists()


def test_a_hosted_instance_is_registered_by_name_and_probed(owner_client, hosted):
    assert create(owner_client, hosted).status_code == 302
    app = Application.objects.get()
    assert app.backend == "aliyun" and app.base_url == ""
    url = reverse("gallery:library-new", args=[app.pk])
    missing = owner_client.post(url, {"instance_name": "hats"})
    assert missing.status_code == 400 and "InvalidInstance" in missing.content.decode()
    assert owner_client.post(url, {"instance_name": "shoes"}).status_code == 302
    library = Library.objects.get()
    assert (library.service, library.capacity) == ("product", 20_000)
    assert ApiCall.objects.filter(operation="Detail", service="shoes").exists()


def test_a_picture_survives_flow_control_and_is_deleted_by_pair(owner_client, hosted, commit):
    create(owner_client, hosted)
    app = Application.objects.get()
    owner_client.post(reverse("gallery:library-new", args=[app.pk]), {"instance_name": "shoes"})
    library = Library.objects.get()
    hosted.fail("AddImage", "DeniedRequest")  # one refusal: the client backs off and retries
    with commit():
        response = owner_client.post(
            reverse("gallery:upload", args=[library.pk]),
            {"files": [jpeg("boot_1.jpg", 3)], "category_id": "4", "int_attr1": "5"},
            HTTP_ACCEPT="application/json",
        )
    assert response.json()["results"][0]["ok"]
    picture = Picture.objects.get()
    assert picture.image.status == ImageStatus.INDEXED
    stored = hosted.instances["shoes"].pictures[("boot", "boot_1.jpg")]
    assert stored.category_id == 4 and stored.int_attrs[0] == 5
    with commit():
        owner_client.post(
            reverse("gallery:library-bulk", args=[library.pk]),
            {"action": "delete", "ids": [picture.image.pk], "confirmed": "1"},
        )
    picture.image.refresh_from_db()
    assert picture.image.status == ImageStatus.DELETED
    assert not hosted.instances["shoes"].pictures


def test_the_listing_of_a_hosted_instance_does_not_wait_for_the_service(owner_client, hosted):
    create(owner_client, hosted)
    app = Application.objects.get()
    owner_client.post(reverse("gallery:library-new", args=[app.pk]), {"instance_name": "shoes"})
    library = Library.objects.get()
    before = len(hosted.calls)
    hosted.fail("Detail", "UnknownException")  # would break the page if it asked
    page = owner_client.get(reverse("gallery:library", args=[library.pk]))
    assert page.status_code == 200 and len(hosted.calls) == before
