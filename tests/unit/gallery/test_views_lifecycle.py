"""Applications and libraries over their life: rename, new hosted keys, deletion confirmed by
the typed name (built-in in one step, hosted through the delete job), the "use it from code"
panel. The hosted Baidu endpoint is the fake; the built-in engine is the real one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from engine.models import EngineApp, EngineLibrary
from gallery.models import (
    Activity,
    ActivityVerb,
    Application,
    Batch,
    Image,
    ImageStatus,
    Library,
    Membership,
    Role,
)
from gallery.services import task_base
from gallery.services.sweep import images_sweep
from gallery.services.task_base import MAX_RETRIES
from gallery.services.uploads import UploadError
from tests import fakebaidu
from tests.unit.gallery.kit import builtin, files_under, upload_committed, upload_image

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_client(client, personas):
    client.force_login(personas["owner"])
    return client


def url(name, obj):
    return reverse(f"gallery:{name}", args=[obj.pk])


# --- roles ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("application-rename", "application"),
        ("application-keys", "application"),
        ("application-delete", "application"),
        ("library-rename", "library"),
        ("library-delete", "library"),
    ],
)
def test_only_owners_rename_change_keys_and_delete(
    client, personas, application, library, name, kind
):
    target = url(name, application if kind == "application" else library)
    for persona in ("editor", "viewer"):
        client.force_login(personas[persona])
        assert client.get(target).status_code == 403
        assert client.post(target, {"name": "x", "confirm": "x"}).status_code == 403
    client.force_login(personas["outsider"])
    assert client.get(target).status_code == 404
    assert client.post(target, {"name": "x", "confirm": "x"}).status_code == 404
    application.refresh_from_db()
    assert application.name == "Shop" and Library.objects.filter(pk=library.pk).exists()


def test_viewers_and_editors_are_not_offered_the_owners_buttons(client, personas, application):
    client.force_login(personas["editor"])
    page = client.get(url("application", application)).content.decode()
    assert url("application-delete", application) not in page
    assert url("application-rename", application) not in page
    client.force_login(personas["owner"])
    page = client.get(url("application", application)).content.decode()
    assert url("application-delete", application) in page
    assert url("application-keys", application) in page


# --- rename ---------------------------------------------------------------------------------


def test_an_owner_renames_an_application_and_it_is_logged(owner_client, application):
    response = owner_client.post(url("application-rename", application), {"name": "  Shop 2 "})
    assert response.status_code == 302
    application.refresh_from_db()
    assert application.name == "Shop 2"
    entry = Activity.objects.get(verb=ActivityVerb.APPLICATION_RENAME)
    assert entry.detail == {"previous": "Shop", "name": "Shop 2"}


def test_a_builtin_applications_engine_twin_follows_the_rename(owner_client, personas):
    app, _library = builtin(personas)
    assert owner_client.post(url("application-rename", app), {"name": "Renamed"}).status_code == 302
    assert EngineApp.objects.get(app_id=app.app_id).name == "Renamed"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("   ", "A name is required."),
        ("x" * 101, "Ensure this value has at most 100 characters"),
        ("bad\x07name", "A name cannot hold control characters."),
        ("other", "You already have an application of that name."),
    ],
)
def test_a_bad_application_name_is_explained_beside_the_field(
    owner_client, personas, application, name, message
):
    other = Application.objects.create(name="Other", backend="baidu", app_id="1", api_key="k")
    Membership.objects.create(user=personas["owner"], application=other, role=Role.OWNER)
    response = owner_client.post(url("application-rename", application), {"name": name})
    assert response.status_code == 400
    page = response.content.decode()
    assert 'class="field-error"' in page and message in page
    application.refresh_from_db()
    assert application.name == "Shop"
    assert not Activity.objects.filter(verb=ActivityVerb.APPLICATION_RENAME).exists()


def test_an_owner_renames_a_library_and_empty_gives_back_its_default_name(
    owner_client, application, library
):
    assert (
        owner_client.post(url("library-rename", library), {"name": "Catalogue"}).status_code == 302
    )
    library.refresh_from_db()
    assert library.display_name == "Catalogue"
    page = owner_client.get(url("library", library)).content.decode()
    assert "<h1>Catalogue" in page
    assert owner_client.post(url("library-rename", library), {"name": ""}).status_code == 302
    library.refresh_from_db()
    assert library.name == "" and library.display_name == "Same image"
    assert Activity.objects.filter(verb=ActivityVerb.LIBRARY_RENAME).count() == 2


def test_two_libraries_of_an_application_never_share_a_name(
    owner_client, application, library, product_library
):
    response = owner_client.post(url("library-rename", product_library), {"name": "same IMAGE"})
    assert response.status_code == 400
    assert "Another library of this application has that name." in response.content.decode()
    product_library.refresh_from_db()
    assert product_library.name == ""


# --- new hosted keys ------------------------------------------------------------------------


def test_refused_keys_show_the_wire_error_and_save_nothing(
    owner_client, application, baidu, monkeypatch
):
    monkeypatch.setitem(fakebaidu.ERRORS, 14, "IAM Certification failed")
    baidu.fail("same_hq", "search", 14)  # the signed probe after the token was refused
    secret = "typed-secret-never-shown-0123456789"
    response = owner_client.post(
        url("application-keys", application), {"api_key": "new-key", "secret_key": secret}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "IAM Certification failed" in page and "<code>14</code>" in page
    assert "Nothing was saved" in page
    assert secret not in page
    application.refresh_from_db()
    assert (application.api_key, application.secret_key) == (baidu.api_key, baidu.secret_key)
    assert not Activity.objects.filter(verb=ActivityVerb.APPLICATION_KEYS).exists()


def test_new_keys_are_tested_then_saved_and_logged_without_the_secret(
    owner_client, application, library, baidu, personas, commit
):
    baidu.api_key, baidu.secret_key = "rotated-key", "rotated-secret-0123456789"  # at Baidu
    response = owner_client.post(
        url("application-keys", application),
        {"api_key": " rotated-key ", "secret_key": "rotated-secret-0123456789"},
    )
    assert response.status_code == 302
    application.refresh_from_db()
    assert application.api_key == "rotated-key"
    assert application.secret_key == "rotated-secret-0123456789"
    entry = Activity.objects.get(verb=ActivityVerb.APPLICATION_KEYS)
    assert entry.detail["api_key"] == "rotated-key"
    assert entry.detail["previous_api_key"] == "baidu-api-key"
    assert "rotated-secret" not in str(entry.detail)
    # The images go on with the new keys.
    image = upload_committed(library, personas, 3, commit)
    image.refresh_from_db()
    assert image.status == ImageStatus.INDEXED


def test_the_keys_page_never_renders_the_stored_secret(owner_client, application):
    page = owner_client.get(url("application-keys", application)).content.decode()
    assert application.api_key in page and application.secret_key not in page


def test_builtin_keys_are_rotated_not_typed(owner_client, personas):
    app, _library = builtin(personas)
    assert owner_client.get(url("application-keys", app)).status_code == 404


# --- deleting a library ---------------------------------------------------------------------


def test_a_wrong_name_is_refused_beside_the_field_and_nothing_is_deleted(
    owner_client, application, library, personas, baidu, commit
):
    upload_committed(library, personas, 1, commit)
    response = owner_client.post(url("library-delete", library), {"confirm": "same_hq"})
    assert response.status_code == 400
    assert "Type Shop/same_hq to confirm." in response.content.decode()
    assert Library.objects.filter(pk=library.pk, deleting_since__isnull=True).exists()
    assert Image.objects.filter(library=library, status=ImageStatus.INDEXED).count() == 1
    assert len(baidu.libraries["same_hq"]) == 1


def test_the_confirmation_page_says_what_happens(owner_client, personas, library, commit):
    upload_committed(library, personas, 1, commit)
    page = owner_client.get(url("library-delete", library)).content.decode()
    assert "Tuku deletes the 1 image it knows from Baidu by cont_sign" in page
    assert "The 1 original kept here and its thumbnail are deleted from storage." in page
    assert "The library itself stays in Baidu's console" in page
    _app, lib = builtin(personas)
    page = owner_client.get(url("library-delete", lib)).content.decode()
    assert "The built-in engine deletes the library at once" in page


def test_deleting_a_builtin_library_removes_the_engine_library_rows_and_files(
    owner_client, personas, media, commit, baidu_engine
):
    app, library = builtin(personas)
    for seed in (1, 2):
        upload_committed(library, personas, seed, commit)
    assert Image.objects.filter(library=library, status=ImageStatus.INDEXED).count() == 2
    assert files_under(media)
    with commit():
        response = owner_client.post(url("library-delete", library), {"confirm": "Local/same_hq"})
    assert response.status_code == 302 and response["Location"] == url("application", app)
    assert not Library.objects.filter(pk=library.pk).exists()
    assert not Image.objects.filter(library_id=library.pk).exists()
    assert not EngineLibrary.objects.filter(app__app_id=app.app_id, service="same_hq").exists()
    assert files_under(media) == []
    entry = Activity.objects.get(verb=ActivityVerb.LIBRARY_DELETE)
    assert entry.application_id == app.pk and entry.detail == {"images": 2, "originals": 2}
    assert Application.objects.filter(pk=app.pk).exists()


def test_deleting_a_hosted_library_deletes_each_image_through_the_api_first(
    owner_client, application, library, personas, baidu, media, commit
):
    for seed in (1, 2, 3):
        upload_committed(library, personas, seed, commit)
    assert len(baidu.libraries["same_hq"]) == 3
    with commit():
        response = owner_client.post(url("library-delete", library), {"confirm": "Shop/same_hq"})
    assert response.status_code == 302
    assert [op for _s, op, _f in baidu.calls].count("delete") == 1  # 3 cont_signs in one call
    assert baidu.libraries["same_hq"] == {}
    assert not Library.objects.filter(pk=library.pk).exists()
    assert files_under(media) == []
    assert Activity.objects.filter(verb=ActivityVerb.LIBRARY_DELETE).exists()


def test_a_backend_outage_mid_delete_is_waited_out_not_lost(
    owner_client, application, library, personas, baidu, media, commit, monkeypatch
):
    monkeypatch.setattr(task_base, "backoff", lambda retries: 0)
    for seed in (1, 2):
        upload_committed(library, personas, seed, commit)
    baidu.fail("same_hq", "delete", *[282000] * (MAX_RETRIES + 1))  # away for every retry
    with commit():
        owner_client.post(url("library-delete", library), {"confirm": "Shop/same_hq"})
    library.refresh_from_db()
    assert library.deleting_since is not None
    rows = list(Image.objects.filter(library=library))
    assert {row.status for row in rows} == {ImageStatus.DELETING}
    assert all(row.waits == 1 and row.original for row in rows)  # nothing removed yet
    assert len(baidu.libraries["same_hq"]) == 2
    assert files_under(media)
    page = owner_client.get(url("library", library)).content.decode()
    assert "Being deleted since" in page
    job = Batch.objects.get(kind=Batch.Kind.DELETE, library=library)
    page = owner_client.get(url("batch", job)).content.decode()
    assert "2 images left to remove." in page and "data-batch-cancel" not in page
    # No new image while it is being deleted.
    with pytest.raises(UploadError):
        upload_image(library, personas, seed=9)
    # The backend is back; the sweeper's next attempt finishes the delete.
    Image.objects.filter(library=library).update(next_attempt_at=timezone.now() - timedelta(1))
    with commit():
        images_sweep()
    assert baidu.libraries["same_hq"] == {}
    assert not Library.objects.filter(pk=library.pk).exists()
    assert files_under(media) == []


# --- deleting an application ----------------------------------------------------------------


def test_deleting_a_hosted_application_deletes_its_libraries_then_itself(
    owner_client, application, library, product_library, personas, baidu, commit
):
    upload_committed(library, personas, 1, commit)
    page = owner_client.get(url("application-delete", application)).content.decode()
    assert "Type <code>Shop</code> to confirm." in page
    response = owner_client.post(url("application-delete", application), {"confirm": "Shop "[:3]})
    assert response.status_code == 400 and Application.objects.filter(pk=application.pk).exists()
    with commit():
        response = owner_client.post(url("application-delete", application), {"confirm": "Shop"})
    assert response.status_code == 302 and response["Location"] == reverse("gallery:home")
    assert baidu.libraries["same_hq"] == {}
    assert not Application.objects.filter(pk=application.pk).exists()
    assert not Library.objects.exists() and not Membership.objects.exists()
    survivor = Activity.objects.get(verb=ActivityVerb.APPLICATION_DELETE)
    assert survivor.application_id is None and survivor.object_repr == "Shop"
    assert survivor.actor == personas["owner"]
    assert sorted(survivor.detail["libraries"]) == ["Product", "Same image"]
    assert survivor.detail["images"] == 1
    assert "secret" not in str(survivor.detail).lower()


def test_deleting_a_builtin_application_removes_its_engine_keys_at_once(
    owner_client, personas, media, commit, baidu_engine
):
    app, library = builtin(personas)
    upload_committed(library, personas, 1, commit)
    with commit():
        response = owner_client.post(url("application-delete", app), {"confirm": "Local"})
    assert response.status_code == 302
    assert not EngineApp.objects.filter(app_id=app.app_id).exists()
    assert not Application.objects.exists() and not Image.objects.exists()
    assert files_under(media) == []
    assert Activity.objects.get(verb=ActivityVerb.APPLICATION_DELETE).application_id is None


def test_an_application_waiting_for_its_backend_says_so(
    owner_client, application, library, personas, baidu, commit, monkeypatch
):
    monkeypatch.setattr(task_base, "backoff", lambda retries: 0)
    upload_committed(library, personas, 1, commit)
    baidu.fail("same_hq", "delete", *[282000] * (MAX_RETRIES + 1))
    with commit():
        owner_client.post(url("application-delete", application), {"confirm": "Shop"})
    page = owner_client.get(url("application", application)).content.decode()
    assert "Being deleted since" in page
    home = owner_client.get(reverse("gallery:home")).content.decode()
    assert "Being deleted" in home
    assert Batch.objects.filter(kind=Batch.Kind.DELETE, library=library).exists()
    Image.objects.update(next_attempt_at=timezone.now() - timedelta(1))
    with commit():
        images_sweep()
    assert not Application.objects.exists()


# --- copy buttons and the "use it from code" panel ------------------------------------------


def test_the_snippet_points_the_sdk_at_this_server_for_the_builtin_engine(
    owner_client, personas, settings
):
    settings.ALLOWED_HOSTS = ["tuku.example"]
    app, _library = builtin(personas)
    page = owner_client.get(url("application", app), HTTP_HOST="tuku.example:8443").content.decode()
    assert "from aip import AipImageSearch" in page
    assert "client = AipImageSearch(APP_ID, API_KEY, SECRET_KEY)" in page
    assert "SERVER = &quot;http://tuku.example:8443&quot;" in page
    assert f"APP_ID = &quot;{app.app_id}&quot;" in page
    assert "SECRET_KEY = &quot;YOUR_SECRET_KEY&quot;" in page
    assert app.secret_key not in page
    assert "copy.js" in page and "data-copy-source" in page


def test_a_hosted_baidu_snippet_calls_baidu_without_the_secret(owner_client, application):
    page = owner_client.get(url("application", application)).content.decode()
    assert "from aip import AipImageSearch" in page and "SERVER =" not in page
    assert application.secret_key not in page
    assert "client.sameHqAdd(image" in page


def test_an_alibaba_snippet_uses_the_official_sdk_and_the_endpoint(
    owner_client, personas, aliyun_engine
):
    from gallery.services.applications import application_create
    from gallery.services.libraries import library_create

    app = application_create(
        actor=personas["owner"], name="Ali", backend="builtin_aliyun", services=[]
    )
    library_create(
        actor=personas["owner"], application=app, service="product", instance_name="shoes"
    )
    page = owner_client.get(url("application", app)).content.decode()
    assert "alibabacloud_imagesearch20201214" in page
    assert "endpoint=&quot;testserver&quot;" in page and "protocol=&quot;http&quot;" in page
    assert "instance_name=&quot;shoes&quot;" in page
    assert "YOUR_ACCESS_KEY_SECRET" in page and app.secret_key not in page


def test_new_alibaba_keys_are_tested_with_detail_then_saved(owner_client, personas, monkeypatch):
    import requests

    from gallery.backends import aliyun as aliyun_backend
    from tests.fakealiyun import FakeAliyun

    fake = FakeAliyun()
    real = aliyun_backend.http_session

    def session(*, public_only: bool) -> requests.Session:
        s = real(public_only=public_only)
        s.mount("https://imagesearch.cn-shanghai.aliyuncs.com", fake)
        return s

    monkeypatch.setattr(aliyun_backend, "http_session", session)
    app = Application.objects.create(
        name="Ali",
        backend="aliyun",
        region="cn-shanghai",
        api_key=fake.access_key_id,
        secret_key=fake.access_key_secret,
        auth_mode="sign",
    )
    Membership.objects.create(user=personas["owner"], application=app, role=Role.OWNER)
    page = owner_client.get(url("application-keys", app)).content.decode()
    assert "AccessKey Secret" in page
    fake.access_key_id, fake.access_key_secret = "LTAI5tRotated", "rotated-secret-at-alibaba"
    wrong = owner_client.post(
        url("application-keys", app), {"api_key": "LTAI5tRotated", "secret_key": "typo-secret"}
    )
    assert wrong.status_code == 400
    assert "NoPermission" in wrong.content.decode() and "typo-secret" not in wrong.content.decode()
    app.refresh_from_db()
    assert app.api_key == "LTAI5tFakeAccessKeyId"
    good = owner_client.post(
        url("application-keys", app),
        {"api_key": "LTAI5tRotated", "secret_key": "rotated-secret-at-alibaba"},
    )
    assert good.status_code == 302
    app.refresh_from_db()
    assert (app.api_key, app.secret_key) == ("LTAI5tRotated", "rotated-secret-at-alibaba")


def test_the_pages_speak_chinese(owner_client, application, library):
    owner_client.cookies["django_language"] = "zh-hans"
    page = owner_client.get(url("application", application)).content.decode()
    assert "在代码中使用" in page and "删除应用…" in page
    page = owner_client.get(url("library-delete", library)).content.decode()
    assert "删除图库“相同图片”？" in page or "删除图库“" in page


def test_deleting_a_builtin_alibaba_instance_removes_it_from_the_engine(
    owner_client, personas, media, commit, aliyun_engine
):
    from engine.models import AliyunInstance
    from gallery.pictures import PictureFields
    from gallery.services.applications import application_create
    from gallery.services.libraries import library_create
    from gallery.services.uploads import image_upload
    from tests.conftest import make_image

    app = application_create(
        actor=personas["owner"], name="Ali", backend="builtin_aliyun", services=[]
    )
    library = library_create(
        actor=personas["owner"], application=app, service="product", instance_name="shoes"
    )
    with commit():
        image_upload(
            actor=personas["owner"],
            library=library,
            data=make_image(1),
            filename="sku-1_1.jpg",
            picture=PictureFields(),
        )
    assert Image.objects.filter(library=library, status=ImageStatus.INDEXED).exists()
    with commit():
        response = owner_client.post(url("library-delete", library), {"confirm": "Ali/shoes"})
    assert response.status_code == 302
    assert not AliyunInstance.objects.filter(name="shoes").exists()
    assert not Library.objects.filter(pk=library.pk).exists()
    assert files_under(media) == []
    with commit():
        owner_client.post(url("application-delete", app), {"confirm": "Ali"})
    assert not EngineApp.objects.filter(app_id=app.app_id).exists()
