"""Freeze the engine's notion of "now" without a third-party package."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine import auth


def frozen_now(monkeypatch: pytest.MonkeyPatch, when: str) -> None:
    moment = datetime.strptime(when, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    monkeypatch.setattr(auth.timezone, "now", lambda: moment)
