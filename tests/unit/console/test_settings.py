"""console.settings: configuration from the environment, validated at start-up."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

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
