"""gallery.views.auth: login (rate-limited), logout, password change."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_login_is_refused_after_repeated_failures(client, personas, settings):
    settings.LOGIN_ATTEMPTS = 3
    url = reverse("login")
    for _ in range(3):
        assert client.post(url, {"username": "owner", "password": "wrong"}).status_code == 200
    refused = client.post(url, {"username": "owner", "password": "a long passphrase 1"})
    assert refused.status_code == 429
    assert b"Too many failed attempts" in refused.content


def test_login_logout_and_password_change(client, personas):
    assert client.get(reverse("gallery:home")).status_code == 302
    response = client.post(
        reverse("login"), {"username": "owner", "password": "a long passphrase 1"}
    )
    assert response.status_code == 302
    assert client.get(reverse("gallery:home")).status_code == 200
    changed = client.post(
        reverse("password_change"),
        {
            "old_password": "a long passphrase 1",
            "new_password1": "another long one 2",
            "new_password2": "another long one 2",
        },
    )
    assert changed.status_code == 302
    client.post(reverse("logout"))
    assert client.get(reverse("gallery:home")).status_code == 302
    assert client.login(username="owner", password="another long one 2")
