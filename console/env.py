"""Typed readers for settings that come from environment variables.

Every reader fails with ImproperlyConfigured naming the variable, the value it got and what
it expected, so a typo stops start-up instead of silently falling back to a default.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off"}


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def _fail(name: str, value: str, expected: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"{name}={value!r} is invalid: expected {expected}.")


def string(name: str, default: str = "") -> str:
    value = _raw(name)
    return default if value is None else value


def boolean(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    if value.lower() in TRUE:
        return True
    if value.lower() in FALSE:
        return False
    raise _fail(name, value, "one of true/false/1/0/yes/no/on/off")


def integer(
    name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise _fail(name, value, "an integer") from None
    if minimum is not None and number < minimum:
        raise _fail(name, value, f"an integer >= {minimum}")
    if maximum is not None and number > maximum:
        raise _fail(name, value, f"an integer <= {maximum}")
    return number


def choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _raw(name)
    if value is None:
        return default
    if value not in choices:
        raise _fail(name, value, "one of " + ", ".join(choices))
    return value


def string_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def url(name: str, default: str, *, schemes: tuple[str, ...]) -> str:
    value = _raw(name)
    if value is None:
        return default
    parts = urlsplit(value)
    if parts.scheme not in schemes or not (parts.netloc or parts.path):
        raise _fail(name, value, "a URL with scheme " + " or ".join(schemes))
    return value


def directory(name: str, default: Path, *, private: bool = False) -> Path:
    """The directory, created if missing.

    `private`: created 0700, and an existing one that this user owns loses group and other
    access. One owned by someone else (a mount point the operator arranged) keeps its mode:
    it is theirs to decide, and chmod would fail anyway.
    """
    value = _raw(name)
    path = Path(value).expanduser() if value is not None else default
    try:
        path.mkdir(mode=0o700 if private else 0o777, parents=True, exist_ok=True)
        if private:
            info = path.stat()
            if info.st_uid == os.geteuid() and info.st_mode & 0o077:
                path.chmod(stat.S_IMODE(info.st_mode) & 0o700)
    except OSError as exc:
        raise ImproperlyConfigured(f"{name}={str(path)!r} cannot be created: {exc}.") from None
    return path.resolve()


def secret(name: str, fallback_file: Path, make: Callable[[], str]) -> str:
    """The variable's value, or one generated once and kept in `fallback_file` (mode 600)."""
    value = _raw(name)
    if value is not None:
        return value
    if fallback_file.exists():
        return fallback_file.read_text().strip()
    # Web server and worker may start together: write aside, then link into place, so one
    # value wins and nobody reads a half-written file.
    scratch = fallback_file.with_name(f".{fallback_file.name}.{os.getpid()}")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(make())
    try:
        os.link(scratch, fallback_file)
    except FileExistsError:
        pass
    finally:
        scratch.unlink()
    return fallback_file.read_text().strip()


def token_urlsafe() -> str:
    return secrets.token_urlsafe(50)
