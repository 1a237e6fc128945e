"""People: owners create teammates' accounts with a one-time set-password link, issue fresh
links, deactivate and reactivate accounts (within the privilege rule of gallery/access.py);
viewers see that they are read-only; an outsider's empty home says how to get access."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from gallery.models import Activity, Application, Membership, PasswordLink, Role

pytestmark = pytest.mark.django_db

PASSWORD = "a long passphrase 1"
NEW_PASSWORD = "violet harbour 42 lanterns"
FORM = "/accounts/set-password/"
LINK = re.compile(r"http://testserver(/accounts/set-password/[^/\s<]+/)")


@pytest.fixture
def owner_client(client, personas):
    client.force_login(personas["owner"])
    return client


def members_url(application):
    return reverse("gallery:application", args=[application.pk])


def create_account(client, application, **data):
    fields = {"username": "dana", "display_name": "Dana Li", "email": "", "role": "editor", **data}
    return client.post(
        reverse("gallery:account-new", args=[application.pk]),
        {f"account-{k}": v for k, v in fields.items()},
    )


def link_of(page: str) -> str:
    match = LINK.search(page)
    assert match, "no set-password link on the page"
    return match.group(1)


def set_password(client, path, password=NEW_PASSWORD):
    """Open the link, then send the form it leads to."""
    opened = client.get(path)
    if opened.status_code != 302:
        return opened
    assert opened["Location"] == FORM and opened["Cache-Control"] == "no-store"
    return send_form(client, password)


def send_form(client, password=NEW_PASSWORD):
    return client.post(FORM, {"new_password1": password, "new_password2": password})


def logs_in(client, username, password=PASSWORD):
    response = client.post(reverse("login"), {"username": username, "password": password})
    return response.status_code == 302


def other_application(personas, owner="outsider"):
    app = Application.objects.create(
        name="Elsewhere", backend=Application.Backend.BAIDU, app_id="7654321", api_key="k",
        secret_key="s", services=["same_hq"], qps=0,
    )  # fmt: skip
    Membership.objects.create(user=personas[owner], application=app, role=Role.OWNER)
    return app


def test_an_owner_creates_an_account_and_sees_its_link_once(owner_client, application):
    response = create_account(owner_client, application)
    assert response.status_code == 302
    dana = User.objects.get(username="dana")
    assert dana.first_name == "Dana Li" and not dana.has_usable_password() and dana.is_active
    assert Membership.objects.get(user=dana, application=application).role == Role.EDITOR
    page = owner_client.get(response["Location"]).content.decode()
    path = link_of(page)
    assert "Set-password link for dana" in page
    assert "password not set yet" in page
    # Only the hash is stored, and the link is not shown again.
    token = path.rstrip("/").rsplit("/", 1)[1]
    assert PasswordLink.objects.get(user=dana).token_hash == PasswordLink.hash_of(token)
    assert token not in str(PasswordLink.objects.values_list().get())
    assert LINK.search(owner_client.get(members_url(application)).content.decode()) is None
    verbs = list(Activity.objects.filter(application=application).values_list("verb", flat=True))
    assert "account.create" in verbs and "member.set" in verbs
    assert token not in str(list(Activity.objects.values_list("detail", "object_repr")))


def test_the_link_sets_the_password_once_and_logs_in(client, personas, application):
    client.force_login(personas["owner"])
    path = link_of(client.get(create_account(client, application)["Location"]).content.decode())
    client.logout()
    opened = client.get(path)
    assert opened.status_code == 302 and opened["Location"] == FORM
    form = client.get(FORM)
    assert form.status_code == 200 and "dana" in form.content.decode()
    assert form["Cache-Control"] == "no-store" and form["Referrer-Policy"] == "same-origin"
    response = send_form(client)
    assert response.status_code == 302 and response["Location"] == reverse("gallery:home")
    dana = User.objects.get(username="dana")
    assert client.session["_auth_user_id"] == str(dana.pk)
    assert dana.check_password(NEW_PASSWORD)
    assert Activity.objects.filter(verb="account.password_set", actor=dana).exists()
    # A second use is refused and changes nothing.
    client.logout()
    again = client.get(path)
    assert again.status_code == 404 and "This link does not work" in again.content.decode()
    assert send_form(client, "another fine passphrase 7").status_code == 404
    dana.refresh_from_db()
    assert dana.check_password(NEW_PASSWORD)
    assert logs_in(client, "dana", NEW_PASSWORD)


def test_a_weak_password_is_explained_and_the_link_kept(client, personas, application):
    client.force_login(personas["owner"])
    path = link_of(client.get(create_account(client, application)["Location"]).content.decode())
    client.logout()
    response = set_password(client, path, "123")
    assert response.status_code == 400
    assert "This password is too short" in response.content.decode()
    assert PasswordLink.objects.filter(user__username="dana").exists()
    assert send_form(client).status_code == 302


def test_an_expired_link_is_refused(client, personas, application):
    client.force_login(personas["owner"])
    path = link_of(client.get(create_account(client, application)["Location"]).content.decode())
    link = PasswordLink.objects.get(user__username="dana")
    assert timedelta(days=3) - timedelta(minutes=1) < link.expires_at - timezone.now()
    client.logout()
    assert client.get(path).status_code == 302  # the form is open when the link expires
    PasswordLink.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert send_form(client).status_code == 404
    assert client.get(path).status_code == 404
    assert not User.objects.get(username="dana").has_usable_password()


def test_a_fresh_link_replaces_the_old_one(owner_client, personas, application):
    first = link_of(
        owner_client.get(create_account(owner_client, application)["Location"]).content.decode()
    )
    dana = User.objects.get(username="dana")
    response = owner_client.post(reverse("gallery:account-link", args=[application.pk, dana.pk]))
    second = link_of(owner_client.get(response["Location"]).content.decode())
    assert first != second
    assert owner_client.get(first).status_code == 404
    assert owner_client.get(second).status_code == 302
    assert Activity.objects.filter(verb="account.link", application=application).exists()


def test_a_forgotten_password_gets_a_reset_link(client, personas, application):
    client.force_login(personas["owner"])
    viewer = personas["viewer"]
    response = client.post(reverse("gallery:account-link", args=[application.pk, viewer.pk]))
    path = link_of(client.get(response["Location"]).content.decode())
    client.logout()
    assert set_password(client, path).status_code == 302
    viewer.refresh_from_db()
    assert viewer.check_password(NEW_PASSWORD)


def test_bad_names_are_explained_beside_the_field(owner_client, application):
    taken = create_account(owner_client, application, username="Editor")
    assert taken.status_code == 400
    assert "There is already a user with that name." in taken.content.decode()
    invalid = create_account(owner_client, application, username="dana li")
    assert invalid.status_code == 400
    page = invalid.content.decode()
    assert 'id="id_account-username_error"' in page and "without spaces" in page
    email = create_account(owner_client, application, email="not-an-email")
    assert email.status_code == 400 and 'id="id_account-email_error"' in email.content.decode()
    assert not User.objects.filter(username__in=["dana", "dana li"]).exists()


def test_only_owners_create_accounts(client, personas, application):
    client.force_login(personas["editor"])
    assert create_account(client, application).status_code == 403
    client.force_login(personas["outsider"])
    assert create_account(client, application).status_code == 404
    assert not User.objects.filter(username="dana").exists()


def test_deactivation_blocks_login_and_shows_in_the_list(client, personas, application):
    viewer = personas["viewer"]
    client.force_login(viewer)
    viewer_session = client.cookies["sessionid"].value
    client.force_login(personas["owner"])
    url = reverse("gallery:account-deactivate", args=[application.pk, viewer.pk])
    response = client.post(url)
    assert response.status_code == 302
    viewer.refresh_from_db()
    assert not viewer.is_active
    page = client.get(members_url(application)).content.decode()
    row = page[page.index('data-member="viewer"') :].split("</tr>", 1)[0]
    assert "deactivated" in row and "Reactivate" in row
    assert Activity.objects.filter(verb="account.deactivate", application=application).exists()
    client.logout()
    login = client.post(reverse("login"), {"username": "viewer", "password": PASSWORD})
    assert login.status_code == 200 and "_auth_user_id" not in client.session
    # A session opened before is over at its next request.
    client.cookies["sessionid"] = viewer_session
    assert client.get(members_url(application)).status_code == 302
    # Reactivated, the account logs in again with its old password and role.
    client.force_login(personas["owner"])
    client.post(reverse("gallery:account-reactivate", args=[application.pk, viewer.pk]))
    client.logout()
    assert logs_in(client, "viewer")
    assert Membership.objects.get(user=viewer, application=application).role == Role.VIEWER
    assert Activity.objects.filter(verb="account.reactivate").exists()


def test_a_deactivated_account_has_no_link(client, personas, application):
    client.force_login(personas["owner"])
    path = link_of(client.get(create_account(client, application)["Location"]).content.decode())
    dana = User.objects.get(username="dana")
    client.post(reverse("gallery:account-deactivate", args=[application.pk, dana.pk]))
    assert client.get(path).status_code == 404
    response = client.post(reverse("gallery:account-link", args=[application.pk, dana.pk]))
    assert "deactivated" in client.get(response["Location"]).content.decode()
    assert not PasswordLink.objects.exists()


@pytest.mark.parametrize("action", ["account-link", "account-deactivate"])
def test_an_owner_cannot_take_over_a_superuser(client, personas, application, action):
    root = User.objects.create_superuser("root", "", PASSWORD)
    Membership.objects.create(user=root, application=application, role=Role.OWNER)
    client.force_login(personas["owner"])
    assert (
        client.post(reverse(f"gallery:{action}", args=[application.pk, root.pk])).status_code == 403
    )
    root.refresh_from_db()
    assert root.is_active and not PasswordLink.objects.exists()
    page = client.get(members_url(application)).content.decode()
    row = page[page.index('data-member="root"') :].split("</tr>", 1)[0]
    assert "Deactivate" not in row and "link" not in row


@pytest.mark.parametrize("action", ["account-link", "account-deactivate"])
def test_an_owner_cannot_reach_a_member_of_other_applications(
    client, personas, application, action
):
    # The editor also owns an application the owner has no part in.
    other_application(personas, owner="editor")
    editor = personas["editor"]
    client.force_login(personas["owner"])
    response = client.post(reverse(f"gallery:{action}", args=[application.pk, editor.pk]))
    assert response.status_code == 403
    editor.refresh_from_db()
    assert editor.is_active and not PasswordLink.objects.exists()
    # Nor anyone outside the application, nor themselves.
    outsider = personas["outsider"]
    assert (
        client.post(reverse(f"gallery:{action}", args=[application.pk, outsider.pk])).status_code
        == 404
    )
    owner = personas["owner"]
    assert (
        client.post(reverse(f"gallery:{action}", args=[application.pk, owner.pk])).status_code
        == 403
    )


def test_an_owner_reaches_a_member_of_applications_they_all_own(client, personas, application):
    mine = other_application(personas, owner="owner")
    Membership.objects.create(user=personas["viewer"], application=mine, role=Role.EDITOR)
    client.force_login(personas["owner"])
    viewer = personas["viewer"]
    assert (
        client.post(
            reverse("gallery:account-deactivate", args=[application.pk, viewer.pk])
        ).status_code
        == 302
    )
    # Recorded in every application the account belongs to.
    assert Activity.objects.filter(verb="account.deactivate").count() == 2


def test_the_only_owner_who_can_log_in_stays_active(client, personas, application):
    root = User.objects.create_superuser("root", "", PASSWORD)
    client.force_login(root)
    owner = personas["owner"]
    response = client.post(reverse("gallery:account-deactivate", args=[application.pk, owner.pk]))
    assert (
        "only owner of an application who can log in"
        in client.get(response["Location"]).content.decode()
    )
    owner.refresh_from_db()
    assert owner.is_active


def test_everyone_sees_who_can_do_what(client, personas, application):
    client.force_login(personas["viewer"])
    page = client.get(members_url(application)).content.decode()
    assert "Who can do what" in page and "Show the Secret Key and rotate it" in page
    assert "Create account" not in page


def test_a_viewer_sees_they_are_read_only(client, personas, application, library):
    client.force_login(personas["viewer"])
    for url in (members_url(application), reverse("gallery:library", args=[library.pk])):
        page = client.get(url).content.decode()
        assert "data-read-only" in page and "You are a viewer of this application" in page
    client.force_login(personas["editor"])
    assert (
        "data-read-only"
        not in client.get(reverse("gallery:library", args=[library.pk])).content.decode()
    )


def test_an_outsiders_home_says_how_to_get_access(client, personas, application):
    client.force_login(personas["outsider"])
    page = client.get(reverse("gallery:home")).content.decode()
    assert "You are not a member of any application yet" in page
    assert "ask one of its owners to add you" in page and "<code>outsider</code>" in page


def test_the_login_page_no_longer_sends_teammates_to_createsuperuser(client):
    page = client.get(reverse("login")).content.decode()
    assert "createsuperuser" not in page
    assert "Ask an owner of the application you work on" in page


def test_the_pages_speak_chinese(client, personas, application, library):
    client.force_login(personas["viewer"])
    page = client.get(members_url(application), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "谁能做什么" in page and "只读" in page
    client.force_login(personas["outsider"])
    home = client.get(reverse("gallery:home"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "你还不是任何应用的成员" in home
