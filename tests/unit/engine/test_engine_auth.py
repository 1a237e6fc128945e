"""Token endpoint (baidu-wire §4.1), access tokens (§4.2) and bce-auth-v1 signatures (§4.3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client

from engine import auth, services
from engine.models import EngineApp, EngineLibrary, EngineToken

from .enginekit import PATHS, App, assert_error, frozen_now, signed_headers

pytestmark = pytest.mark.django_db
ADD = PATHS["same_hq"].format(op="add")
SDK_QUERY = {"aipSdk": "python", "aipVersion": "4.15.13"}


def token_response(client: Client, method: str = "get", **values: str) -> Any:
    return getattr(client, method)("/oauth/2.0/token", values)


def test_token_success_shape(app: App) -> None:
    response = token_response(
        app.client,
        grant_type="client_credentials",
        client_id=app.api_key,
        client_secret=app.secret_key,
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json;charset=utf-8"
    body = response.json()
    assert set(body) == {
        "refresh_token",
        "expires_in",
        "session_key",
        "access_token",
        "scope",
        "session_secret",
    }
    assert body["expires_in"] == 2592000
    assert "brain_all_scope" in body["scope"].split(" ")
    assert body["access_token"].startswith("24.")
    assert body["access_token"].endswith("-" + app.app_id)
    assert body["refresh_token"].startswith("25.")
    # Only a digest is stored.
    assert EngineToken.objects.filter(digest=auth.digest(body["access_token"])).exists()
    assert not EngineToken.objects.filter(digest=body["access_token"]).exists()


def test_token_by_post_form_and_query(app: App) -> None:
    response = app.client.post(
        "/oauth/2.0/token?grant_type=client_credentials",
        urlencode({"client_id": app.api_key, "client_secret": app.secret_key}),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert response.json()["expires_in"] == 2592000


def test_signing_only_app_gets_no_brain_all_scope(make_app: Any) -> None:
    app = make_app(signing_only=True)
    body = token_response(
        app.client,
        grant_type="client_credentials",
        client_id=app.api_key,
        client_secret=app.secret_key,
    ).json()
    assert "brain_all_scope" not in body["scope"].split(" ")


@pytest.mark.parametrize(
    ("values", "status", "expected"),
    [
        (
            {"client_id": "k", "client_secret": "s"},
            400,
            {
                "error": "unsupported_grant_type",
                "error_description": "The authorization grant type is not supported",
            },
        ),
        (
            {"grant_type": "password", "client_id": "k", "client_secret": "s"},
            400,
            {
                "error": "unsupported_grant_type",
                "error_description": "The authorization grant type is not supported",
            },
        ),
        (
            {"grant_type": "client_credentials", "client_secret": "s"},
            401,
            {"error": "invalid_client", "error_description": "unknown client id"},
        ),
        (
            {"grant_type": "client_credentials", "client_id": "nope", "client_secret": "s"},
            401,
            {"error": "invalid_client", "error_description": "unknown client id"},
        ),
        (
            {"grant_type": "client_credentials", "client_id": "KEY", "client_secret": "wrong"},
            401,
            {"error": "invalid_client", "error_description": "Client authentication failed"},
        ),
        (
            {"grant_type": "client_credentials", "client_id": "KEY"},
            401,
            {"error": "invalid_client", "error_description": "Client authentication failed"},
        ),
    ],
)
def test_token_errors_are_oauth_style(
    app: App, values: dict[str, str], status: int, expected: dict[str, str]
) -> None:
    values = {k: app.api_key if v == "KEY" else v for k, v in values.items()}
    response = token_response(app.client, **values)
    assert response.status_code == status
    assert response["Content-Type"] == "application/json;charset=utf-8"
    assert response.json() == expected


def test_token_path_never_redirects(app: App) -> None:
    response = app.client.get("/oauth/2.0/token/", {"grant_type": "x"})
    assert response.status_code == 400


def post(client: Client, path: str, query: str = "", data: str = "", **headers: Any) -> Any:
    response = client.post(
        path + (f"?{query}" if query else ""),
        data,
        content_type="application/x-www-form-urlencoded",
        **headers,
    )
    assert response.status_code == 200
    return response.json()


def test_no_credentials_is_100(app: App) -> None:
    assert_error(post(app.client, ADD), 100, "Invalid parameter")


def test_empty_token_is_100(app: App) -> None:
    assert_error(post(app.client, ADD, "access_token="), 100, "Invalid parameter")


def test_unknown_token_is_110(app: App) -> None:
    assert_error(
        post(app.client, ADD, "access_token=24.abc"),
        110,
        "Access token invalid or no longer valid",
    )


def test_node_sdk_token_tail_is_tolerated(app: App) -> None:
    # What the Node SDK sends: its marker glued onto the token (baidu-wire §11.10).
    query = f"aipSdk=node&access_token={app.token}?aipSdk=node"
    assert_error(post(app.client, ADD, query), 216101, "not enough param")


@pytest.mark.parametrize(
    "tail",
    ["?aipSdk=node&x=1", "?other=node", "?aipSdk=", "x?aipSdk=node", "?aipSdk=node?aipSdk=node"],
)
def test_other_token_tails_are_110(app: App, tail: str) -> None:
    query = urlencode({"access_token": app.token + tail})
    assert_error(post(app.client, ADD, query), 110, "Access token invalid or no longer valid")


def test_expired_token_is_111(app: App) -> None:
    token = app.token
    EngineToken.objects.update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert_error(post(app.client, ADD, f"access_token={token}"), 111, "Access token expired")


def test_token_survives_restart_and_earlier_tokens_stay_valid(app: App) -> None:
    first = app.token
    app._token = None
    second = app.token
    assert first != second
    for token in (first, second):
        assert_error(post(app.client, ADD, f"access_token={token}"), 216101, "not enough param")


def test_rotating_the_secret_revokes_tokens(app: App) -> None:
    token = app.token
    services.engine_app_rotate_secret(app_id=app.app_id)
    assert_error(
        post(app.client, ADD, f"access_token={token}"),
        110,
        "Access token invalid or no longer valid",
    )


def test_deleting_the_app_revokes_tokens(app: App) -> None:
    token = app.token
    services.engine_app_delete(app_id=app.app_id)
    assert_error(
        post(app.client, ADD, f"access_token={token}"),
        110,
        "Access token invalid or no longer valid",
    )


def test_token_wins_over_signature(app: App) -> None:
    headers = signed_headers(app.api_key, "wrong-secret", ADD, {})
    body = post(app.client, ADD, f"access_token={app.token}", **headers)
    assert_error(body, 216101, "not enough param")


def test_signed_request_as_the_sdk_signs_it(app: App) -> None:
    headers = signed_headers(app.api_key, app.secret_key, ADD, SDK_QUERY)
    body = post(app.client, ADD, urlencode(SDK_QUERY), **headers)
    assert_error(body, 216101, "not enough param")


def test_signed_request_without_query(app: App) -> None:
    headers = signed_headers(app.api_key, app.secret_key, ADD, {})
    assert_error(post(app.client, ADD, **headers), 216101, "not enough param")


def test_host_with_port_is_retried_without_it(app: App) -> None:
    headers = signed_headers(app.api_key, app.secret_key, ADD, SDK_QUERY)
    headers["HTTP_HOST"] = "127.0.0.1:8000"  # a proxy put the port back
    assert_error(post(app.client, ADD, urlencode(SDK_QUERY), **headers), 216101, "not enough param")


def flip_last(value: str) -> str:
    return value[:-1] + ("1" if value[-1] == "0" else "0")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h: h | {"HTTP_AUTHORIZATION": flip_last(h["HTTP_AUTHORIZATION"])},
        lambda h: h | {"HTTP_AUTHORIZATION": h["HTTP_AUTHORIZATION"].replace("/1800/", "/18/x/")},
        lambda h: h | {"HTTP_AUTHORIZATION": "bce-auth-v2" + h["HTTP_AUTHORIZATION"][11:]},
        lambda h: h | {"HTTP_AUTHORIZATION": "garbage"},
        lambda h: h | {"HTTP_HOST": "localhost"},
        lambda h: h | {"HTTP_X_BCE_DATE": "2020-01-01T00:00:00Z"},
        lambda h: {k: v for k, v in h.items() if k != "HTTP_X_BCE_DATE"},
    ],
)
def test_bad_signatures_are_14(app: App, tamper: Any) -> None:
    headers = tamper(signed_headers(app.api_key, app.secret_key, ADD, SDK_QUERY))
    body = post(app.client, ADD, urlencode(SDK_QUERY), **headers)
    assert_error(body, 14, "IAM Certification failed")


def signed_with(app: App, host: str, names: tuple[str, ...]) -> dict[str, str]:
    """A correct signature over exactly `names`, with `host` as the signed Host."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    prefix = f"bce-auth-v1/{app.api_key}/{stamp}/1800"
    values = {
        "host": host,
        "x-bce-date": stamp,
        "content-type": "application/x-www-form-urlencoded",
    }
    signature = auth.signature_for(
        secret_key=app.secret_key,
        auth_prefix=prefix,
        method="POST",
        path=ADD,
        query="aipSdk=node",
        headers={name: values[name] for name in names},
    )
    return {
        "HTTP_HOST": "127.0.0.1",
        "HTTP_X_BCE_DATE": stamp,
        "HTTP_AUTHORIZATION": f"{prefix}/{';'.join(names)}/{signature}",
    }


def test_signing_host_and_date_is_required(app: App) -> None:
    partial: list[tuple[str, ...]] = [("x-bce-date",), ("host",), ("content-type", "host")]
    for names in partial:
        body = post(
            app.client, ADD, "aipSdk=node", "brief=x", **signed_with(app, "127.0.0.1", names)
        )
        assert_error(body, 14, "IAM Certification failed")
    node = ("content-type", "host", "x-bce-date")  # what the Node SDK signs
    body = post(app.client, ADD, "aipSdk=node", "brief=x", **signed_with(app, "127.0.0.1", node))
    assert_error(body, 216101, "not enough param")


def test_a_foreign_signed_host_needs_the_operator_setting(app: App, settings: Any) -> None:
    names = ("content-type", "host", "x-bce-date")
    headers = signed_with(app, "aip.baidubce.com", names)
    assert_error(
        post(app.client, ADD, "aipSdk=node", "brief=x", **headers), 14, "IAM Certification failed"
    )
    settings.ENGINE_SIGNED_HOSTS = ["aip.baidubce.com"]
    body = post(
        app.client, ADD, "aipSdk=node", "brief=x", **signed_with(app, "aip.baidubce.com", names)
    )
    assert_error(body, 216101, "not enough param")
    body = post(
        app.client, ADD, "aipSdk=node", "brief=x", **signed_with(app, "evil.example", names)
    )
    assert_error(body, 14, "IAM Certification failed")


def test_signature_with_unknown_access_key_is_14(app: App) -> None:
    headers = signed_headers("unknown-key", app.secret_key, ADD, SDK_QUERY)
    assert_error(
        post(app.client, ADD, urlencode(SDK_QUERY), **headers), 14, "IAM Certification failed"
    )


def test_signature_with_wrong_secret_is_14(app: App) -> None:
    headers = signed_headers(app.api_key, "0" * 32, ADD, SDK_QUERY)
    assert_error(
        post(app.client, ADD, urlencode(SDK_QUERY), **headers), 14, "IAM Certification failed"
    )


def test_signature_query_must_match(app: App) -> None:
    headers = signed_headers(app.api_key, app.secret_key, ADD, SDK_QUERY)
    body = post(app.client, ADD, "aipSdk=python&aipVersion=9", **headers)
    assert_error(body, 14, "IAM Certification failed")


APPENDIX_B = (
    "bce-auth-v1/my-api-key/2026-11-21T19:27:25Z/1800/host;x-bce-date/"
    "686e47deca08d3f9a48221ffc118d233435367231540640fd073c56443c9a9e4"
)


def test_appendix_b_signature_function() -> None:
    signature = auth.signature_for(
        secret_key="my-secret-key",
        auth_prefix="bce-auth-v1/my-api-key/2026-11-21T19:27:25Z/1800",
        method="POST",
        path="/rest/2.0/realtime_search/same_hq/add",
        query="aipSdk=python&aipVersion=4.15.13",
        headers={"host": "127.0.0.1", "x-bce-date": "2026-11-21T19:27:25Z"},
    )
    assert signature == APPENDIX_B.rsplit("/", 1)[1]


def appendix_b_app() -> EngineApp:
    app = EngineApp.objects.create(
        app_id="12345678",
        name="appendix-b",
        api_key="my-api-key",
        secret_key="my-secret-key",
        services=["same_hq"],
        qps=0,
    )
    EngineLibrary.objects.create(app=app, service="same_hq")
    return app


def appendix_b_call(client: Client, host: str = "127.0.0.1") -> Any:
    return post(
        client,
        ADD,
        "aipSdk=python&aipVersion=4.15.13",
        HTTP_HOST=host,
        HTTP_X_BCE_DATE="2026-11-21T19:27:25Z",
        HTTP_AUTHORIZATION=APPENDIX_B,
    )


@pytest.mark.parametrize(
    ("now", "accepted"),
    [
        ("2026-11-21T19:27:25Z", True),
        ("2026-11-21T19:22:25Z", True),  # signed up to 300 s in the future
        ("2026-11-21T19:22:24Z", False),
        ("2026-11-21T19:57:25Z", True),  # the last second of the 1800 s validity
        ("2026-11-21T19:57:26Z", False),
    ],
)
def test_appendix_b_vector_and_clock_skew(
    client: Client, monkeypatch: pytest.MonkeyPatch, now: str, accepted: bool
) -> None:
    appendix_b_app()
    frozen_now(monkeypatch, now)
    body = appendix_b_call(client)
    if accepted:
        assert_error(body, 216101, "not enough param")
    else:
        assert_error(body, 14, "IAM Certification failed")


def test_appendix_b_through_a_proxy_that_adds_the_port(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    appendix_b_app()
    frozen_now(monkeypatch, "2026-11-21T19:30:00Z")
    assert_error(appendix_b_call(client, host="127.0.0.1:8000"), 216101, "not enough param")


def signed_for(app: App, expiration: str, signed_at: str) -> dict[str, str]:
    """A correct signature that claims `expiration` seconds of validity from `signed_at`."""
    prefix = f"bce-auth-v1/{app.api_key}/{signed_at}/{expiration}"
    signature = auth.signature_for(
        secret_key=app.secret_key,
        auth_prefix=prefix,
        method="POST",
        path=ADD,
        query=urlencode(SDK_QUERY),
        headers={"host": "127.0.0.1", "x-bce-date": signed_at},
    )
    return {
        "HTTP_HOST": "127.0.0.1",
        "HTTP_X_BCE_DATE": signed_at,
        "HTTP_AUTHORIZATION": f"{prefix}/host;x-bce-date/{signature}",
    }


def test_the_cap_admits_what_the_official_sdk_signs(app: App) -> None:
    claimed = signed_headers(app.api_key, app.secret_key, ADD, SDK_QUERY)["HTTP_AUTHORIZATION"]
    assert int(claimed.split("/")[3]) <= auth.MAX_SIGNATURE_EXPIRATION


@pytest.mark.parametrize(
    ("expiration", "now", "accepted"),
    [
        ("1800", "2026-11-21T19:27:25Z", True),
        ("1800", "2026-11-21T19:57:25Z", True),  # the cap's last second
        ("1801", "2026-11-21T19:27:25Z", False),  # refused even while fresh
        ("3600", "2026-11-21T19:57:26Z", False),
        ("315360000", "2036-11-18T19:27:25Z", False),  # ten years of replay
    ],
)
def test_an_expiration_above_the_cap_is_14(
    app: App, monkeypatch: pytest.MonkeyPatch, expiration: str, now: str, accepted: bool
) -> None:
    frozen_now(monkeypatch, now)
    headers = signed_for(app, expiration, "2026-11-21T19:27:25Z")
    body = post(app.client, ADD, urlencode(SDK_QUERY), **headers)
    if accepted:
        assert_error(body, 216101, "not enough param")
    else:
        assert_error(body, 14, "IAM Certification failed")
