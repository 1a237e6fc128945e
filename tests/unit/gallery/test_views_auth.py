"""Login, logout and password change, and the failed-login limits of console/logins.py that
every password form shares (the admin's included)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.cache import caches
from django.urls import reverse

pytestmark = pytest.mark.django_db

PASSWORD = "a long passphrase 1"


@pytest.fixture(autouse=True)
def limits(settings):
    settings.LOGIN_ATTEMPTS = 3
    settings.LOGIN_USER_ATTEMPTS = 6
    settings.LOGIN_ADDRESS_ATTEMPTS = 10


def attempt(client, username: str, password: str, address: str = "10.0.0.1", **extra):
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address, **extra
    )


def test_login_is_refused_after_repeated_failures(client, personas):
    for _ in range(2):
        assert attempt(client, "owner", "wrong").status_code == 200
    locked = attempt(client, "owner", "wrong")  # the failure that reaches the limit says so
    assert locked.status_code == 429
    refused = attempt(client, "owner", PASSWORD)
    assert refused.status_code == 429
    assert b"Too many failed attempts. Wait 5 minutes and try again." in refused.content
    assert "_auth_user_id" not in client.session


def test_another_user_behind_the_same_address_still_logs_in(client, personas):
    for _ in range(3):
        attempt(client, "owner", "wrong")
    assert attempt(client, "editor", PASSWORD).status_code == 302


def test_the_user_name_is_limited_across_addresses_and_letter_case(client, personas):
    for i in range(6):
        attempt(client, "Owner " if i % 2 else "owner", "wrong", address=f"10.0.1.{i}")
    assert attempt(client, "owner", PASSWORD, address="10.0.2.1").status_code == 429


def test_an_address_has_a_higher_ceiling_for_all_names(client, personas):
    for i in range(10):
        attempt(client, f"nobody{i}", "wrong")
    assert attempt(client, "viewer", PASSWORD).status_code == 429
    assert attempt(client, "viewer", PASSWORD, address="10.0.0.2").status_code == 302


def test_behind_a_trusted_proxy_the_forwarded_address_counts(client, personas, settings):
    settings.TRUSTED_PROXIES = 1
    proxy = "10.9.9.9"
    for i in range(3):
        # What the client wrote itself stays to the left of what the proxy appended.
        forwarded = f"198.51.100.{i}, 203.0.113.7"
        attempt(client, "owner", "wrong", address=proxy, HTTP_X_FORWARDED_FOR=forwarded)
    refused = attempt(client, "owner", PASSWORD, address=proxy, HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert refused.status_code == 429
    # The same user from another client behind the same proxy is only under the per-name limit.
    ok = attempt(client, "owner", PASSWORD, address=proxy, HTTP_X_FORWARDED_FOR="203.0.113.8")
    assert ok.status_code == 302


def test_without_a_trusted_proxy_a_forwarded_header_is_ignored(client, personas):
    for i in range(3):
        attempt(client, "owner", "wrong", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}")
    assert attempt(client, "owner", PASSWORD).status_code == 429


def test_the_admin_login_is_limited_too(client, django_user_model):
    django_user_model.objects.create_superuser("root", password=PASSWORD)
    url = reverse("admin:login")
    for _ in range(3):
        client.post(url, {"username": "root", "password": "wrong"}, REMOTE_ADDR="10.0.0.5")
    refused = client.post(url, {"username": "root", "password": PASSWORD}, REMOTE_ADDR="10.0.0.5")
    assert refused.status_code == 429
    assert b"Too many failed attempts" in refused.content
    assert "_auth_user_id" not in client.session


def test_wrong_old_passwords_count_as_failed_logins(client, personas):
    client.force_login(personas["owner"])
    url = reverse("password_change")
    form = {"new_password1": "another long one 2", "new_password2": "another long one 2"}
    for _ in range(2):
        wrong = client.post(url, {"old_password": "wrong", **form}, REMOTE_ADDR="10.0.0.1")
        assert wrong.status_code == 200
        assert b"Your old password was entered incorrectly" in wrong.content
    locked = client.post(url, {"old_password": "wrong", **form}, REMOTE_ADDR="10.0.0.1")
    assert locked.status_code == 429
    right = client.post(url, {"old_password": PASSWORD, **form}, REMOTE_ADDR="10.0.0.1")
    assert right.status_code == 429
    assert b"Too many failed attempts" in right.content
    personas["owner"].refresh_from_db()
    assert personas["owner"].check_password(PASSWORD)


def test_a_cache_outage_does_not_lock_everybody_out(client, personas, monkeypatch):
    def down(*args, **kwargs):
        raise ConnectionError("cache down")

    backend = type(caches["default"])
    monkeypatch.setattr(backend, "get", down)
    monkeypatch.setattr(backend, "add", down)
    assert attempt(client, "owner", "wrong").status_code == 200
    assert attempt(client, "owner", PASSWORD).status_code == 302


def test_login_logout_and_password_change(client, personas):
    assert client.get(reverse("gallery:home")).status_code == 302
    assert attempt(client, "owner", PASSWORD).status_code == 302
    assert client.get(reverse("gallery:home")).status_code == 200
    changed = client.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "another long one 2",
            "new_password2": "another long one 2",
        },
    )
    assert changed.status_code == 302
    client.post(reverse("logout"))
    assert client.get(reverse("gallery:home")).status_code == 302
    assert attempt(client, "owner", "another long one 2").status_code == 302


def test_every_page_has_the_icon_a_browser_tab_shows(client):
    from django.contrib.staticfiles import finders
    from django.templatetags.static import static

    page = client.get(reverse("login")).content.decode()
    assert f'<link rel="icon" type="image/svg+xml" href="{static("favicon.svg")}">' in page
    icon = finders.find("favicon.svg")
    assert icon and Path(icon).read_text(encoding="utf-8").startswith("<svg")
