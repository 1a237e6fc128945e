"""The Alibaba wire's transport (aliyun-wire §1, §3): dispatch, errors, QPS, and that the
console keeps its own `/`."""

from __future__ import annotations

import pytest
from django.test import Client

from wire.aliyun import ERRORS

from .aliyunkit import Account, make_account, make_instance


@pytest.fixture
def account(db: None, client: Client) -> Account:
    made = make_account(client)
    make_instance(made, "demo", 1)
    return made


def is_error(status: int, body: dict[str, object], code: str) -> None:
    assert set(body) == {"RequestId", "Code", "Message"}, body
    assert (status, body["Code"], body["Message"]) == (ERRORS[code][0], code, ERRORS[code][1])


@pytest.mark.parametrize(
    "action",
    [
        "NoSuchAction",
        "SearchImageByText",
        "DumpMeta",
        "DumpMetaList",
        "IncreaseInstance",
        "IncreaseList",
    ],
)
def test_actions_not_served(account: Account, action: str) -> None:
    is_error(*account.call(action, {"InstanceName": "demo"}), "UnsupportedOperationType")


def test_action_query_parameter_is_the_fallback(account: Account) -> None:
    status, body = account.call(
        "Detail", query={"InstanceName": "demo"}, v2=True, action_header=False
    )
    assert status == 200 and body["Instance"]["Name"] == "demo"


def test_instance_errors(account: Account) -> None:
    is_error(*account.call("Detail"), "BadRequest")
    is_error(*account.call("Detail", query={"InstanceName": "other"}), "InvalidInstance")
    is_error(*account.call("Detail", query={"InstanceName": "x" * 21}), "InvalidInstance")


def test_instances_belong_to_their_access_key(account: Account, client: Client) -> None:
    stranger = make_account(client)
    is_error(*stranger.call("Detail", query={"InstanceName": "demo"}), "InvalidInstance")


def test_unknown_access_key_and_unsigned_calls(account: Account, client: Client) -> None:
    ghost = Account("nobody", "secret", client)
    is_error(*ghost.call("Detail", query={"InstanceName": "demo"}), "NoPermission")
    response = client.post("/?Action=Detail&InstanceName=demo")
    assert response.status_code == 403 and response.json()["Code"] == "NoPermission"


def test_qps_per_instance(account: Account) -> None:
    make_instance(account, "slow", 1, qps=1)
    assert account.call("Detail", query={"InstanceName": "slow"})[0] == 200
    is_error(*account.call("Detail", query={"InstanceName": "slow"}), "DeniedRequest")
    assert account.call("Detail", query={"InstanceName": "demo"})[0] == 200  # its own window


def test_detail(account: Account) -> None:
    status, body = account.call("Detail", query={"InstanceName": "demo"})
    assert status == 200 and body["Success"] is True and isinstance(body["RequestId"], str)
    instance = body["Instance"]
    assert instance["Name"] == "demo" and instance["ServiceType"] == 1
    assert (instance["Qps"], instance["Capacity"], instance["TotalCount"]) == (10, 1, 0)
    assert instance["Region"] == "cn-shanghai"
    assert isinstance(instance["UtcCreate"], int) and instance["UtcExpireTime"] is None


def test_console_keeps_its_root(account: Account) -> None:
    response = Client().get("/")
    assert response.status_code in (200, 302)
    assert not response.get("Content-Type", "").startswith("application/json")
    # A browser's POST names no action: it goes to the console and its CSRF check.
    browser = Client(enforce_csrf_checks=True)
    response = browser.post("/", {"field": "value"})
    assert response.status_code == 403
    assert not response.get("Content-Type", "").startswith("application/json")


def test_disallowed_host_still_answers_alibaba_json(account: Account, settings: object) -> None:
    response = Client().post(
        "/?Action=Detail", HTTP_HOST="evil.example", HTTP_X_ACS_ACTION="Detail"
    )
    assert response.status_code == 400
    assert response.json()["Code"] == "BadRequest"
