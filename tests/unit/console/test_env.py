"""console.env: the readers of environment variables, and the data directory they create."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from console import env


@pytest.fixture(autouse=True)
def shell_umask() -> Iterator[None]:
    """The umask of a shell, as before the settings set theirs; restored afterwards."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_private_directory_is_created_0700(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUKU_TEST_DIR", str(tmp_path / "tuku"))
    assert env.directory("TUKU_TEST_DIR", tmp_path / "unused", private=True) == tmp_path / "tuku"
    assert mode(tmp_path / "tuku") == 0o700


def test_an_existing_private_directory_of_ours_loses_group_and_other_access(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o755)  # made by an earlier version
    env.directory("", data, private=True)
    assert mode(data) == 0o700


def test_an_existing_directory_someone_else_owns_keeps_its_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o750)
    monkeypatch.setattr(env.os, "geteuid", lambda: data.stat().st_uid + 1)
    env.directory("", data, private=True)
    assert mode(data) == 0o750


def test_a_plain_directory_is_left_to_the_umask(tmp_path: Path) -> None:
    env.directory("", tmp_path / "models")
    assert mode(tmp_path / "models") == 0o755
