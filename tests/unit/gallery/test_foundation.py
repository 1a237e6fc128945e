"""Settings, secrets at rest, access control, login throttling, log redaction."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, transaction
from django.http import Http404
from django.urls import reverse

from console.logredact import redact
from gallery import access
from gallery.models import Image, Library, Role

pytestmark = pytest.mark.django_db


def start_settings(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "console.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DJANGO_DEBUG", "maybe", "DJANGO_DEBUG='maybe' is invalid"),
        ("DATABASE_URL", "mysql://x", "DATABASE_URL='mysql://x' is invalid"),
        ("TUKU_STORAGE", "ftp", "TUKU_STORAGE='ftp' is invalid"),
        ("TUKU_SWEEP_SECONDS", "0", "TUKU_SWEEP_SECONDS='0' is invalid"),
        ("TUKU_FIELD_ENCRYPTION_KEYS", "short", "not a Fernet key"),
    ],
)
def test_an_invalid_variable_stops_start_up_with_its_name(name, value, message, tmp_path):
    result = start_settings(**{name: value, "TUKU_DATA_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert message in result.stderr


def test_s3_storage_needs_a_bucket(tmp_path):
    result = start_settings(TUKU_STORAGE="s3", TUKU_DATA_DIR=str(tmp_path))
    assert "TUKU_S3_BUCKET" in result.stderr


def test_no_variable_at_all_gives_the_embedded_defaults(tmp_path):
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("TUKU_", "DJANGO_", "DATABASE"))
    }
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings as s;"
            "print(s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL,"
            " s.STORAGES['default']['BACKEND'])",
        ],
        env={**env, "DJANGO_SETTINGS_MODULE": "console.settings", "TUKU_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.split() == [
        "django.db.backends.sqlite3",
        "filesystem://",
        "django.core.files.storage.FileSystemStorage",
    ]
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_secret_keys_are_encrypted_at_rest(application):
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret_key FROM gallery_application WHERE id = %s", [application.pk])
        stored = cursor.fetchone()[0]
    assert application.secret_key not in stored
    application.refresh_from_db()
    assert application.secret_key == "baidu-secret-key"


@pytest.mark.parametrize(
    ("field", "value"), [("tag1", 0), ("tag1", 65536), ("class_id2", 70000), ("status", "gone")]
)
def test_the_database_refuses_out_of_range_rows(library, field, value):
    row = Image(
        library=library,
        sha256="0" * 64,
        width=1,
        height=1,
        bytes=1,
        format="PNG",
        brief="b",
        **{field: value},
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        row.save()


def test_cont_sign_is_unique_among_live_rows_only(library):
    def row(status: str) -> Image:
        return Image.objects.create(
            library=library,
            sha256="0" * 64,
            width=1,
            height=1,
            bytes=1,
            format="PNG",
            brief="b",
            cont_sign="1,2",
            status=status,
        )

    row("deleted")
    row("indexed")
    with pytest.raises(IntegrityError), transaction.atomic():
        row("indexed")


def test_an_indexed_row_must_have_a_cont_sign(library):
    with pytest.raises(IntegrityError), transaction.atomic():
        Image.objects.create(
            library=library,
            sha256="0" * 64,
            width=1,
            height=1,
            bytes=1,
            format="PNG",
            brief="b",
            status="indexed",
        )


def test_one_library_per_service(application):
    Library.objects.create(application=application, service="similar")
    with pytest.raises(IntegrityError), transaction.atomic():
        Library.objects.create(application=application, service="similar")


def test_roles_are_enforced_in_one_place(application, personas, django_user_model):
    assert access.get_application(personas["viewer"], application.pk) == application
    assert access.get_application(personas["editor"], application.pk, Role.EDITOR)
    with pytest.raises(PermissionDenied):
        access.get_application(personas["viewer"], application.pk, Role.EDITOR)
    with pytest.raises(PermissionDenied):
        access.get_application(personas["editor"], application.pk, Role.OWNER)
    with pytest.raises(Http404):
        access.get_application(personas["outsider"], application.pk)
    with pytest.raises(Http404):
        access.get_application(personas["owner"], 424242)
    admin = django_user_model.objects.create_superuser("root", "", "pw")
    assert access.get_application(admin, application.pk, Role.OWNER) == application
    assert list(access.applications_for(personas["outsider"])) == []


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


def test_credentials_never_reach_a_log_line(caplog):
    assert redact("GET /oauth/2.0/token?client_id=k&client_secret=s3cr3t&x=1") == (
        "GET /oauth/2.0/token?client_id=k&client_secret=***&x=1"
    )
    assert "24.abc" not in redact("POST /rest/2.0/x?access_token=24.abc.def")
    assert "deadbeef" not in redact(
        "authorization: bce-auth-v1/ak/2026-11-21T19:27:25Z/1800/host;x-bce-date/deadbeef"
    )
    with caplog.at_level(logging.INFO):
        logging.getLogger("tuku.test").info("token %s", "access_token=24.zzz")
    assert "24.zzz" not in "".join(
        h.format(r) for h in logging.getLogger().handlers for r in caplog.records
    )


def test_every_variable_the_settings_read_is_documented() -> None:
    root = Path(__file__).resolve().parents[3]
    source = (root / "console" / "settings.py").read_text()
    read = set(re.findall(r'env\.\w+\(\s*"([A-Z0-9_]+)"', source))
    documented = set(re.findall(r"^([A-Z0-9_]+)=", (root / ".env.example").read_text(), re.M))
    assert read >= {"DATABASE_URL", "REDIS_URL", "TUKU_S3_BUCKET"}
    assert read - documented == set()


def test_check_deploy_is_clean_with_production_variables(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=Path(__file__).resolve().parents[3],
        env={
            **os.environ,
            "TUKU_DATA_DIR": str(tmp_path),
            "DJANGO_DEBUG": "false",
            "TUKU_HTTPS": "true",
            "DJANGO_SECRET_KEY": "k" * 20 + "-production-grade-secret-" * 2,
            "DJANGO_ALLOWED_HOSTS": "tuku.example.com",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr + result.stdout
