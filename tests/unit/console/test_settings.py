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


def test_the_data_directory_and_everything_in_it_is_private(tmp_path: Path) -> None:
    """What the settings, SQLite, the file cache, the broker and the storage write there."""
    data = tmp_path / "data"
    script = (
        "import os, stat\n"
        "from django.conf import settings\n"
        "from django.core.cache import cache\n"
        "from django.core.files.base import ContentFile\n"
        "from django.core.files.storage import default_storage\n"
        "from django.db import connection\n"
        "with connection.cursor() as cursor:\n"
        "    cursor.execute('CREATE TABLE t (x)')\n"
        "    cursor.execute('INSERT INTO t VALUES (1)')\n"
        "cache.set('k', 1)\n"
        "default_storage.save('originals/ab/cd.jpg', ContentFile(b'jpeg'))\n"
        "for top, dirs, files in os.walk(settings.DATA_DIR):\n"
        "    for name in ['', *dirs, *files]:\n"
        "        path = os.path.join(top, name)\n"
        "        rel = os.path.relpath(path, settings.DATA_DIR)\n"
        "        print(rel, oct(stat.S_IMODE(os.lstat(path).st_mode)))\n"
    )
    prefixes = ("TUKU_", "DJANGO_", "DATABASE", "REDIS", "CELERY")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", script],
        cwd=Path(__file__).resolve().parents[3],
        env={**env, "TUKU_DATA_DIR": str(data)},
        umask=0o022,  # a shell's: the settings must not rely on the caller's
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    modes = dict(line.split() for line in result.stdout.splitlines())
    assert {
        ".",
        "secret_key",
        "field_key",
        "tuku.sqlite3",
        "tuku.sqlite3-wal",
        "cache",
        "broker",
        "media/originals/ab/cd.jpg",
    } <= modes.keys()
    loose = {path: mode for path, mode in modes.items() if int(mode, 8) & 0o077}
    assert loose == {}
    assert modes["."] == "0o700" and modes["media/originals/ab/cd.jpg"] == "0o600"
