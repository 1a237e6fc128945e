"""console.logredact: no credential reaches a log line."""

from __future__ import annotations

import logging

import pytest

from console.logredact import redact

pytestmark = pytest.mark.django_db


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
