"""ACS3 and v2 signatures: the test vectors of aliyun-wire §2.3 and every refusal."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import pytest
from django.test import Client, RequestFactory

from engine.aliyun.auth import (
    acs3_canonical_request,
    acs3_signature,
    authenticate,
    query_pairs,
    v2_signature,
    v2_string_to_sign,
)
from engine.aliyun.errors import AliyunError
from engine.aliyun.params import form_pairs
from engine.models import EngineApp

from .aliyunkit import make_account, make_instance

BODY = b"Crop=True&InstanceName=demoinst&Num=10&PicContent=aGVsbG8%3D&Start=0"
BODY_SHA = "d6e6389af332561bd801ba698c96262402541d370bf2155634d715d5d58f7bd6"
SIGNED_AT = datetime(2026, 11, 21, 19, 54, 30, tzinfo=UTC)
HEADERS = {
    "accept": "application/json",
    "content-type": "application/x-www-form-urlencoded",
    "host": "127.0.0.1:38517",
    "user-agent": "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2",
    "x-acs-action": "SearchImageByPic",
    "x-acs-content-sha256": BODY_SHA,
    "x-acs-credentials-provider": "static_ak",
    "x-acs-date": "2026-11-21T19:54:23Z",
    "x-acs-signature-nonce": "3027e0809b4934d875ae539f223a3fc5",
    "x-acs-version": "2020-12-14",
}
CANONICAL = "\n".join(
    [
        "POST",
        "/",
        "ScoreThreshold=0.5",
        *(f"{k}:{v}" for k, v in HEADERS.items()),
        "",
        ";".join(HEADERS),
        BODY_SHA,
    ]
)
ACS3_SIGNATURE = "3b444f3fdb46a429134fbf870f361842d0e458678366bf78d0f58d17a9463d0f"
V2_QUERY = (
    "Action=SearchImageByPic&Format=json&Version=2020-12-14&Timestamp=2026-11-21T19%3A54%3A23Z"
    "&SignatureNonce=7f92034a8aec95c00cd67b1bf71082c0&ScoreThreshold=0.5"
    "&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&AccessKeyId=test-ak"
    "&Signature=Xes2L%2Be8vpPSJ3Gxc0TiMgzejJ4%3D"
)
V2_STRING_TO_SIGN = (
    "POST&%2F&AccessKeyId%3Dtest-ak%26Action%3DSearchImageByPic%26Crop%3DTrue%26Format%3Djson"
    "%26InstanceName%3Ddemoinst%26Num%3D10%26PicContent%3DaGVsbG8%253D%26ScoreThreshold%3D0.5"
    "%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D7f92034a8aec95c00cd67b1bf71082c0"
    "%26SignatureVersion%3D1.0%26Start%3D0%26Timestamp%3D2026-11-21T19%253A54%253A23Z"
    "%26Version%3D2020-12-14"
)


def test_body_digest_of_the_vector() -> None:
    assert hashlib.sha256(BODY).hexdigest() == BODY_SHA


def test_acs3_vector_canonical_request_and_signature() -> None:
    canonical = acs3_canonical_request(
        method="POST",
        path="/",
        query=[("ScoreThreshold", "0.5")],
        headers=HEADERS,
        body_sha256=BODY_SHA,
    )
    assert canonical == CANONICAL
    assert acs3_signature("test-secret", canonical) == ACS3_SIGNATURE


def test_v2_vector_string_to_sign_and_signature() -> None:
    query = [(k, v) for k, v in query_pairs(V2_QUERY) if k != "Signature"]
    params = query + form_pairs("application/x-www-form-urlencoded", BODY)
    assert v2_string_to_sign(params) == V2_STRING_TO_SIGN
    assert v2_signature("test-secret", params) == "Xes2L+e8vpPSJ3Gxc0TiMgzejJ4="


def test_canonical_query_encodes_spaces_as_percent_20() -> None:
    canonical = acs3_canonical_request(
        method="POST", path="/", query=query_pairs("A=b+c&B=%7E"), headers={}, body_sha256=""
    )
    assert canonical.split("\n")[2] == "A=b%20c&B=~"


@pytest.fixture
def vector_app(db: None) -> EngineApp:
    return EngineApp.objects.create(
        app_id="10000001", name="vector", api_key="test-ak", secret_key="test-secret"
    )


def _acs3_request(**overrides: Any) -> Any:
    headers = {**HEADERS, **overrides}
    meta = {
        "HTTP_" + k.upper().replace("-", "_"): v
        for k, v in headers.items()
        if k not in ("content-type", "host")
    }
    meta["HTTP_HOST"] = headers["host"]
    meta["HTTP_AUTHORIZATION"] = (
        f"ACS3-HMAC-SHA256 Credential=test-ak,SignedHeaders={';'.join(HEADERS)},"
        f"Signature={ACS3_SIGNATURE}"
    )
    return RequestFactory().post(
        "/?ScoreThreshold=0.5",
        data=BODY,
        content_type=headers["content-type"],
        **meta,
    )


def _at(moment: datetime) -> Any:
    return mock.patch("engine.aliyun.auth.timezone.now", return_value=moment)


def test_acs3_vector_request_is_accepted(vector_app: EngineApp) -> None:
    request = _acs3_request()
    with _at(SIGNED_AT):
        assert authenticate(request, BODY, []) == vector_app


def test_v2_vector_request_is_accepted(vector_app: EngineApp) -> None:
    request = RequestFactory().post(
        "/?" + V2_QUERY, data=BODY, content_type="application/x-www-form-urlencoded"
    )
    form = form_pairs("application/x-www-form-urlencoded", BODY)
    with _at(SIGNED_AT):
        assert authenticate(request, BODY, form) == vector_app


@pytest.mark.parametrize(
    ("moment", "overrides", "body"),
    [
        (datetime(2026, 11, 21, 20, 10, 0, tzinfo=UTC), {}, BODY),  # 16 minutes late
        (datetime(2026, 11, 21, 19, 38, 0, tzinfo=UTC), {}, BODY),  # 16 minutes early
        (SIGNED_AT, {}, BODY + b"&Num=100"),  # body differs from x-acs-content-sha256
        (SIGNED_AT, {"x-acs-content-sha256": "0" * 64}, b""),  # signed digest of another body
        (SIGNED_AT, {"x-acs-action": "DeleteImage"}, BODY),  # header changed after signing
        (SIGNED_AT, {"x-acs-security-token": "sts"}, BODY),  # STS is refused
    ],
)
def test_acs3_refusals(
    vector_app: EngineApp, moment: datetime, overrides: dict[str, str], body: bytes
) -> None:
    request = _acs3_request(**overrides)
    with _at(moment), pytest.raises(AliyunError) as raised:
        authenticate(request, body, [])
    assert (raised.value.status, raised.value.code) == (403, "NoPermission")


def test_v2_refuses_a_stale_timestamp_and_a_wrong_secret(vector_app: EngineApp) -> None:
    request = RequestFactory().post(
        "/?" + V2_QUERY, data=BODY, content_type="application/x-www-form-urlencoded"
    )
    form = form_pairs("application/x-www-form-urlencoded", BODY)
    with _at(datetime(2026, 11, 21, 20, 10, 0, tzinfo=UTC)), pytest.raises(AliyunError):
        authenticate(request, BODY, form)
    vector_app.secret_key = "other"
    vector_app.save()
    with _at(SIGNED_AT), pytest.raises(AliyunError):
        authenticate(request, BODY, form)


def test_secret_is_encrypted_at_rest(db: None, client: Client) -> None:
    account = make_account(client)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT secret_key FROM engine_engineapp WHERE api_key = %s", [account.access_key_id]
        )
        (stored,) = cursor.fetchone()
    assert account.secret not in stored


@pytest.mark.parametrize("v2", [False, True])
def test_over_the_wire(db: None, client: Client, v2: bool) -> None:
    account = make_account(client)
    make_instance(account)
    status, body = account.call("Detail", query={"InstanceName": "demo"}, v2=v2)
    assert status == 200 and body["Success"] is True
    attempts: list[dict[str, Any]] = [{"secret": "wrong"}, {"date": "2020-01-01T00:00:00Z"}]
    for kwargs in attempts:
        status, body = account.call("Detail", query={"InstanceName": "demo"}, v2=v2, **kwargs)
        assert (status, body["Code"]) == (403, "NoPermission")
        assert body["Message"] == "You are not authorized to perform this operation."
    if not v2:
        status, body = account.call("Detail", query={"InstanceName": "demo"}, tamper_body=True)
        assert (status, body["Code"]) == (403, "NoPermission")
