"""Application pages: list, create (built-in and Baidu), test connection, detail, secrets,
members, libraries and capacity; activity and usage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from engine.models import EngineApp, EngineLibrary
from gallery.models import (
    Activity,
    ActivityVerb,
    ApiCall,
    Application,
    Batch,
    Library,
    Membership,
    Role,
)
from gallery.services.activity import activity_record
from tests import fakebaidu
from tests.unit.gallery.kit import upload_committed

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_client(client, personas):
    client.force_login(personas["owner"])
    return client


def create_builtin(client, **extra):
    data = {
        "name": "Archive",
        "backend": "builtin",
        "services": ["same_hq", "similar"],
        "qps_tier": "paid",
        **extra,
    }
    return client.post(reverse("gallery:application-new"), data)


def test_the_list_shows_keys_with_the_secret_masked(owner_client, application):
    page = owner_client.get(reverse("gallery:home")).content.decode()
    assert application.name in page and application.app_id in page
    assert application.api_key in page
    assert application.secret_key not in page
    assert "••••" in page


def test_the_list_shows_only_the_users_applications(client, personas, application):
    client.force_login(personas["outsider"])
    assert application.name not in client.get(reverse("gallery:home")).content.decode()


def test_pages_need_a_login(client, application):
    response = client.get(reverse("gallery:application", args=[application.pk]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_builtin_application_shows_its_generated_keys_once(owner_client, personas):
    response = create_builtin(owner_client)
    application = Application.objects.get(name="Archive")
    assert response.status_code == 302
    assert response["Location"] == reverse("gallery:application", args=[application.pk])
    assert len(application.app_id) == 8 and application.app_id.isdigit()
    assert len(application.api_key) == 24 and len(application.secret_key) == 32
    assert EngineApp.objects.filter(app_id=application.app_id).exists()
    assert Membership.objects.get(application=application).role == Role.OWNER
    first = owner_client.get(response["Location"]).content.decode()
    assert application.secret_key in first and "Copy the keys now" in first
    second = owner_client.get(response["Location"]).content.decode()
    assert application.secret_key not in second


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": ""}, "name", "This field is required."),
        ({"name": "   "}, "name", "required"),
        ({"services": []}, "services", "Tick at least one service."),
        ({"services": ["ocr"]}, "services", "Select a valid choice"),
        ({"name": "x" * 101}, "name", "at most 100 characters"),
        ({"qps_tier": "custom"}, "qps_custom", "Enter the custom QPS limit."),
        ({"backend": "tencent"}, "backend", "Select a valid choice"),
    ],
)
def test_bad_application_input_is_explained_beside_the_field(owner_client, data, field, message):
    response = create_builtin(owner_client, **data)
    assert response.status_code == 400
    assert message in " ".join(str(e) for e in response.context["form"].errors[field])
    assert 'class="field-error"' in response.content.decode()
    assert not Application.objects.exists() and not EngineApp.objects.exists()


def test_a_baidu_application_needs_its_three_keys(owner_client):
    response = owner_client.post(
        reverse("gallery:application-new"),
        {"name": "Hosted", "backend": "baidu", "services": ["same_hq"], "qps_tier": "free"},
    )
    assert response.status_code == 400
    for field in ("app_id", "api_key", "secret_key"):
        assert response.context["form"].errors[field]
    assert not Application.objects.exists()


def test_a_baidu_application_is_checked_against_the_token_endpoint(owner_client, baidu):
    response = owner_client.post(
        reverse("gallery:application-new"),
        {
            "name": "Hosted",
            "backend": "baidu",
            "services": ["same_hq"],
            "qps_tier": "free",
            "app_id": "123",
            "api_key": baidu.api_key,
            "secret_key": baidu.secret_key,
        },
    )
    application = Application.objects.get(name="Hosted")
    assert response.status_code == 302
    assert application.auth_mode == "token" and application.qps == 2
    assert application.base_url == "https://aip.baidubce.com"


def test_wrong_baidu_keys_show_the_wire_error(owner_client, baidu, monkeypatch):
    monkeypatch.setitem(fakebaidu.ERRORS, 14, "IAM Certification failed")
    baidu.fail("same_hq", "search", 14)  # the signed probe after the token was refused
    response = owner_client.post(
        reverse("gallery:application-new"),
        {
            "name": "Hosted",
            "backend": "baidu",
            "services": ["same_hq"],
            "qps_tier": "paid",
            "app_id": "123",
            "api_key": "wrong",
            "secret_key": "wrong",
        },
    )
    assert response.status_code == 400
    assert "The API Key or Secret Key is wrong (14 IAM Certification failed)." in (
        response.content.decode()
    )
    assert not Application.objects.exists()


def test_test_connection_reports_success_and_the_auth_mode(owner_client, baidu):
    response = owner_client.post(
        reverse("gallery:application-test"),
        {"api_key": baidu.api_key, "secret_key": baidu.secret_key},
    )
    assert response.json() == {
        "ok": True,
        "auth_mode": "token",
        "message": "Connected: Access token.",
    }


def test_test_connection_shows_the_real_wire_error(owner_client, baidu, monkeypatch):
    # Refused credentials: the client makes one signed probe; the fake answers it with 14.
    monkeypatch.setitem(fakebaidu.ERRORS, 14, "IAM Certification failed")
    baidu.fail("same_hq", "search", 14)
    response = owner_client.post(
        reverse("gallery:application-test"), {"api_key": "nope", "secret_key": "nope"}
    )
    data = response.json()
    assert data["ok"] is False and data["code"] == "14"
    assert data["message"] == "IAM Certification failed"
    assert "Check the API Key and Secret Key" in data["explanation"]


def test_test_connection_needs_the_keys_and_a_post(owner_client):
    assert owner_client.post(reverse("gallery:application-test"), {}).status_code == 400
    assert owner_client.get(reverse("gallery:application-test")).status_code == 405


def test_detail_shows_one_card_per_service_and_members(owner_client, application, library):
    page = owner_client.get(reverse("gallery:application", args=[application.pk])).content.decode()
    for service in ("same_hq", "similar", "product", "picturebook", "materiel"):
        assert f'id="svc-{service}"' in page
    assert "Manage library" in page and "Register library" in page
    assert "Expand capacity" in page
    for name in ("owner", "editor", "viewer"):
        assert f'<td data-label="User">{name}</td>' in page


def test_an_outsider_gets_404_everywhere_under_an_application(client, personas, application):
    client.force_login(personas["outsider"])
    for name in ("gallery:application", "gallery:activity", "gallery:usage"):
        assert client.get(reverse(name, args=[application.pk])).status_code == 404
    for name in ("gallery:application-reveal", "gallery:member-add", "gallery:library-new"):
        assert client.post(reverse(name, args=[application.pk])).status_code == 404


def test_only_an_owner_may_reveal_the_secret_and_it_is_logged(client, personas, application):
    url = reverse("gallery:application-reveal", args=[application.pk])
    for name in ("editor", "viewer"):
        client.force_login(personas[name])
        assert client.post(url).status_code == 403
        page = client.get(reverse("gallery:application", args=[application.pk])).content.decode()
        assert application.secret_key not in page and "Reveal" not in page
    client.force_login(personas["owner"])
    assert client.get(url).status_code == 405
    response = client.post(url, HTTP_ACCEPT="application/json")
    assert response.json() == {"secret_key": application.secret_key}
    assert response["Cache-Control"] == "no-store"
    page = client.post(url).content.decode()
    assert application.secret_key in page
    assert Activity.objects.filter(verb="application.reveal_secret").count() == 2


def test_rotating_a_builtin_secret_asks_first_then_issues_a_new_key(owner_client):
    create_builtin(owner_client)
    application = Application.objects.get()
    old = application.secret_key
    url = reverse("gallery:application-rotate", args=[application.pk])
    assert "Rotate the Secret Key?" in owner_client.get(url).content.decode()
    application.refresh_from_db()
    assert application.secret_key == old
    response = owner_client.post(url)
    application.refresh_from_db()
    assert response.status_code == 302 and application.secret_key != old
    assert EngineApp.objects.get(app_id=application.app_id).secret_key == application.secret_key
    assert application.secret_key in owner_client.get(response["Location"]).content.decode()
    assert Activity.objects.filter(verb="application.rotate_secret").exists()


def test_a_baidu_secret_is_not_rotated_here(owner_client, application):
    url = reverse("gallery:application-rotate", args=[application.pk])
    assert owner_client.post(url).status_code == 404


def test_an_editor_cannot_rotate(client, personas):
    client.force_login(personas["owner"])
    create_builtin(client)
    application = Application.objects.get()
    Membership.objects.create(user=personas["editor"], application=application, role="editor")
    client.force_login(personas["editor"])
    url = reverse("gallery:application-rotate", args=[application.pk])
    assert client.post(url).status_code == 403


def test_an_owner_adds_changes_and_removes_members(owner_client, personas, application):
    url = reverse("gallery:member-add", args=[application.pk])
    response = owner_client.post(url, {"username": "outsider", "role": "editor"})
    assert response.status_code == 302
    assert Membership.objects.get(user=personas["outsider"]).role == "editor"
    role_url = reverse("gallery:member-role", args=[application.pk, personas["outsider"].pk])
    owner_client.post(role_url, {"role": "viewer"})
    assert Membership.objects.get(user=personas["outsider"]).role == "viewer"
    remove = reverse("gallery:member-remove", args=[application.pk, personas["outsider"].pk])
    owner_client.post(remove)
    assert not Membership.objects.filter(user=personas["outsider"]).exists()
    verbs = list(Activity.objects.values_list("verb", flat=True))
    assert verbs.count("member.set") == 2 and "member.remove" in verbs


def test_an_unknown_user_is_explained_beside_the_field(owner_client, application):
    response = owner_client.post(
        reverse("gallery:member-add", args=[application.pk]),
        {"username": "nobody", "role": "viewer"},
    )
    assert response.status_code == 400
    assert "There is no user with that name." in response.content.decode()


def test_the_last_owner_stays(owner_client, personas, application):
    remove = reverse("gallery:member-remove", args=[application.pk, personas["owner"].pk])
    response = owner_client.post(remove, follow=True)
    assert "at least one owner" in response.content.decode()
    assert Membership.objects.filter(user=personas["owner"], role="owner").exists()
    role_url = reverse("gallery:member-role", args=[application.pk, personas["owner"].pk])
    owner_client.post(role_url, {"role": "viewer"})
    assert Membership.objects.get(user=personas["owner"]).role == "owner"


def test_an_editor_cannot_manage_members(client, personas, application):
    client.force_login(personas["editor"])
    url = reverse("gallery:member-add", args=[application.pk])
    assert client.post(url, {"username": "outsider", "role": "owner"}).status_code == 403
    assert not Membership.objects.filter(user=personas["outsider"]).exists()


def test_a_builtin_library_is_created_at_once(owner_client):
    create_builtin(owner_client)
    application = Application.objects.get()
    response = owner_client.post(
        reverse("gallery:library-new", args=[application.pk]),
        {"service": "same_hq", "capacity": "1000"},
    )
    library = Library.objects.get()
    assert response["Location"] == reverse("gallery:library", args=[library.pk])
    assert library.capacity == 1000 and library.registered
    assert EngineLibrary.objects.get(app__app_id=application.app_id).capacity == 1000


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"service": "same_hq", "capacity": "0"}, "greater than or equal to 1"),
        ({"service": "same_hq", "capacity": "many"}, "Enter a whole number."),
        ({"service": "ocr", "capacity": "10"}, "Select a valid choice"),
    ],
)
def test_bad_library_input_is_explained(owner_client, data, message):
    create_builtin(owner_client)
    application = Application.objects.get()
    response = owner_client.post(reverse("gallery:library-new", args=[application.pk]), data)
    assert response.status_code == 400 and message in response.content.decode()
    assert not Library.objects.exists() and not EngineLibrary.objects.exists()


def test_a_second_library_for_a_service_is_refused(owner_client, library):
    response = owner_client.post(
        reverse("gallery:library-new", args=[library.application_id]),
        {"service": "same_hq", "capacity": "500000"},
    )
    assert response.status_code == 400
    assert "already has that library" in response.content.decode()


def test_a_baidu_library_is_registered_after_a_probe(owner_client, application, baidu):
    response = owner_client.post(
        reverse("gallery:library-new", args=[application.pk]),
        {"service": "similar", "capacity": "500000"},
    )
    assert response.status_code == 302
    assert Library.objects.get(service="similar").registered
    assert baidu.calls[-1][:2] == ("similar", "search")


def test_a_baidu_library_not_created_yet_is_explained(
    owner_client, application, baidu, monkeypatch
):
    monkeypatch.setitem(fakebaidu.ERRORS, 216017, "not initialized")
    baidu.fail("similar", "search", 216017)
    response = owner_client.post(
        reverse("gallery:library-new", args=[application.pk]),
        {"service": "similar", "capacity": "500000"},
    )
    assert response.status_code == 400
    assert "216017" in response.content.decode()
    assert "Baidu&#x27;s console" in response.content.decode()
    assert not Library.objects.filter(service="similar").exists()


def test_capacity_grows_by_at_most_500000_per_step(owner_client):
    create_builtin(owner_client)
    application = Application.objects.get()
    owner_client.post(
        reverse("gallery:library-new", args=[application.pk]),
        {"service": "same_hq", "capacity": "500000"},
    )
    library = Library.objects.get()
    url = reverse("gallery:library-capacity", args=[library.pk])
    too_far = owner_client.post(url, {"capacity": "1000001"})
    assert too_far.status_code == 400 and "at most 500,000 per step" in too_far.content.decode()
    lower = owner_client.post(url, {"capacity": "400000"})
    assert lower.status_code == 400 and "must be more than 500000" in lower.content.decode()
    assert owner_client.post(url, {"capacity": "1000000"}).status_code == 302
    library.refresh_from_db()
    assert library.capacity == 1_000_000
    assert EngineLibrary.objects.get().capacity == 1_000_000


def test_an_editor_cannot_create_libraries_or_expand_them(client, personas, application, library):
    client.force_login(personas["editor"])
    assert (
        client.post(
            reverse("gallery:library-new", args=[application.pk]),
            {"service": "similar", "capacity": "10"},
        ).status_code
        == 403
    )
    assert (
        client.post(
            reverse("gallery:library-capacity", args=[library.pk]), {"capacity": "600000"}
        ).status_code
        == 403
    )


# --- activity and usage -------------------------------------------------------------------


@pytest.fixture
def viewer(client, personas):
    client.force_login(personas["viewer"])
    return client


@pytest.fixture
def stored(library, personas, commit, baidu):
    return [upload_committed(library, personas, seed, commit) for seed in (1, 2, 3)]


def test_activity_lists_who_did_what_and_the_calls(viewer, application, stored):
    html = viewer.get(reverse("gallery:activity", args=[application.pk])).content.decode()
    assert html.count("uploaded") >= 3 and "editor" in html
    assert "same_hq/add" in html and "ms" in html
    assert reverse("gallery:image", args=[stored[0].pk]) in html


def test_activity_pages_by_keyset(viewer, application, personas):
    for i in range(60):
        activity_record(
            actor=personas["owner"],
            application=application,
            verb=ActivityVerb.LIBRARY_SEARCH,
            obj=application,
            n=i,
        )
    first = viewer.get(reverse("gallery:activity", args=[application.pk]))
    assert first.context["next_before"]
    second = viewer.get(
        reverse("gallery:activity", args=[application.pk]), {"before": first.context["next_before"]}
    )
    assert len(first.context["rows"]) == 50 and len(second.context["rows"]) == 10


def test_every_verb_is_in_words_and_an_unknown_one_as_it_is(viewer, application, personas):
    owner = personas["owner"]
    for verb in [*ActivityVerb, "test.verb"]:
        activity_record(actor=owner, application=application, verb=verb, obj=application)
    html = viewer.get(reverse("gallery:activity", args=[application.pk])).content.decode()
    for verb in ActivityVerb:
        assert f'<span title="{verb.value}">{escape(verb.label)}</span>' in html, verb
    assert '<span title="test.verb">test.verb</span>' in html


def test_usage_draws_calls_per_day_and_errors_by_code(viewer, application):
    now = timezone.now()
    for days, code in ((0, ""), (0, ""), (1, "18"), (3, "216681"), (40, "")):
        call = ApiCall.objects.create(
            application=application,
            service="same_hq",
            operation="add",
            error_code=code,
            error_msg="item exist" if code == "216681" else "",
            latency_ms=5,
        )
        ApiCall.objects.filter(pk=call.pk).update(created_at=now - timedelta(days=days))
    html = viewer.get(reverse("gallery:usage", args=[application.pk])).content.decode()
    # A row without the retry marks (as before they were recorded) is its call's outcome.
    assert "4 calls in this period: 2 succeeded at once, 0 succeeded after a QPS limit, 2" in html
    assert html.count("<rect x=") == 2  # bars per error code; the days are Chart.js's
    assert "216681" in html and "already in the library" in html
    assert "https://" not in html.split("<main")[1]
    week = viewer.get(reverse("gallery:usage", args=[application.pk]), {"days": "7"})
    assert week.context["span"] == 7


PRIVATE_BASE_URLS = [
    "http://127.0.0.1:6379",
    "http://localhost:8000",
    "http://169.254.169.254/latest",
    "http://[::1]:22",
    "http://10.1.2.3",
    "http://[::ffff:192.168.0.1]",
]


@pytest.mark.parametrize("base_url", PRIVATE_BASE_URLS)
def test_test_connection_refuses_a_private_base_url(owner_client, base_url):
    response = owner_client.post(
        reverse("gallery:application-test"),
        {"base_url": base_url, "api_key": "k", "secret_key": "s"},
    )
    assert response.status_code == 400
    data = response.json()
    assert data["ok"] is False
    [error] = data["errors"]["base_url"]
    assert "is a private, loopback or link-local address" in error["message"]


def test_a_private_base_url_is_refused_beside_the_field(owner_client):
    response = owner_client.post(
        reverse("gallery:application-new"),
        {
            "name": "Hosted",
            "backend": "baidu",
            "services": ["same_hq"],
            "qps_tier": "free",
            "base_url": "http://127.0.0.1:5432",
            "app_id": "123",
            "api_key": "k",
            "secret_key": "s",
        },
    )
    assert response.status_code == 400
    assert "private, loopback or link-local" in response.context["form"].errors["base_url"][0]
    assert not Application.objects.exists()


def test_the_operator_may_allow_private_backends(owner_client, settings):
    settings.BACKEND_ALLOW_PRIVATE = True
    response = owner_client.post(
        reverse("gallery:application-test"),
        {"base_url": "http://127.0.0.1:9", "api_key": "k", "secret_key": "s"},
    )
    data = response.json()  # sent, and nothing listens on the discard port
    assert data["ok"] is False and data["code"] == "connection"


@pytest.mark.parametrize(
    ("backend", "secret_field"), [("baidu", "secret_key"), ("aliyun", "access_key_secret")]
)
def test_a_failed_form_never_echoes_the_secret_typed(owner_client, backend, secret_field):
    secret = "s3cret-typed-by-the-user-0123456789"
    response = owner_client.post(
        reverse("gallery:application-new"),
        {"name": "", "backend": backend, "services": ["same_hq"], secret_field: secret},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "A name is required." in page or "This field is required." in page
    assert secret not in page


def _at(model, pk, when):
    model.objects.filter(pk=pk).update(created_at=when)


@pytest.mark.parametrize(
    ("zone", "shown", "iso"),
    [
        ("UTC", "2026-12-01 22:15:30 UTC", "2026-12-01T22:15:30+00:00"),
        ("Asia/Shanghai", "2026-12-02 06:15:30 CST", "2026-12-02T06:15:30+08:00"),
    ],
)
def test_times_on_the_activity_and_job_pages_say_their_time_zone(
    viewer, application, library, personas, settings, zone, shown, iso
):
    settings.TIME_ZONE = zone
    moment = datetime(2026, 12, 1, 22, 15, 30, tzinfo=UTC)
    activity_record(
        actor=personas["owner"],
        application=application,
        verb=ActivityVerb.LIBRARY_SEARCH,
        obj=application,
    )
    _at(Activity, Activity.objects.latest("pk").pk, moment)
    call = ApiCall.objects.create(
        application=application, service="same_hq", operation="add", latency_ms=5
    )
    _at(ApiCall, call.pk, moment)
    html = viewer.get(reverse("gallery:activity", args=[application.pk])).content.decode()
    stamp = f'<time datetime="{iso}" title="{iso}">{shown}</time>'
    assert html.count(stamp) == 2  # who did what, and the API call
    batch = Batch.objects.create(library=library, kind=Batch.Kind.UPLOAD)
    _at(Batch, batch.pk, moment)
    job = viewer.get(reverse("gallery:batch", args=[batch.pk])).content.decode()
    assert f'<time datetime="{iso}" title="{iso}">{shown[:-7]}{shown[-4:]}</time>' in job
    usage = viewer.get(reverse("gallery:usage", args=[application.pk])).content.decode()
    assert f"Days are counted in the {zone} time zone." in usage
