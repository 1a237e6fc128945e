"""BaiduClient against the wire contract, with the endpoint stubbed only at the HTTP transport."""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import pickle
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from requests.adapters import BaseAdapter
from requests.models import PreparedRequest, Response

from searchapi import baidu
from searchapi.baidu import (
    BaiduClient,
    BaiduError,
    CallRecord,
    Credentials,
    SearchHit,
    SearchPage,
    sign_request,
)
from wire.baidu import SERVICES

BASE = "http://engine.test:8000"
CREDS = Credentials(app_id="8574074", api_key="my-api-key", secret_key="my-secret-key")
PREFIX = {
    "same_hq": "/rest/2.0/realtime_search/same_hq/",
    "similar": "/rest/2.0/image-classify/v1/realtime_search/similar/",
    "product": "/rest/2.0/image-classify/v1/realtime_search/product/",
    "picturebook": "/rest/2.0/imagesearch/v1/realtime_search/picturebook/",
    "materiel": "/rest/2.0/image-classify/v1/realtime_search/materiel/",
}
ADDED = {"log_id": 2263663554, "cont_sign": "4261577168,501945506"}
FOUND = {
    "log_id": 1968648150,
    "result_num": 1,
    "has_more": False,
    "result": [
        {"score": 0.979767, "brief": "./data/jay1.jpg", "cont_sign": "475124309,1080176642"}
    ],
}
OAUTH_UNKNOWN = (401, {"error": "invalid_client", "error_description": "unknown client id"})
ITEM_EXIST = {"log_id": 73100921, "error_code": 216681, "error_msg": "item exist"}
JPEG = b"\xff\xd8\xff\xe0fake jpeg bytes"

Reply = tuple[int, Any] | Exception


def token_body(n: int, scope: str = "public brain_all_scope", **extra: Any) -> dict[str, Any]:
    body = {
        "refresh_token": f"25.refresh{n}",
        "expires_in": 2592000,
        "session_key": "9mzdDZ",
        "access_token": f"24.token{n}.2592000.1485570332.282335-8574074",
        "scope": scope,
        "session_secret": "dfac94",
    }
    return body | extra


def err(code: int | str, msg: str, log_id: int = 5139826357) -> tuple[int, dict[str, Any]]:
    return 200, {"log_id": log_id, "error_code": code, "error_msg": msg}


class FakeBaidu(BaseAdapter):
    """The service at the transport: records requests, answers scripted replies, else success.

    Each token request without a scripted reply issues a new token (24.token1, 24.token2, …).
    """

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[PreparedRequest] = []
        self.timeouts: list[Any] = []
        self.token_replies: list[Reply] = []
        self.api_replies: list[Reply] = []
        self.issued = 0
        self._lock = threading.Lock()

    def send(self, request: PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> Response:  # fmt: skip
        with self._lock:
            self.requests.append(request)
            self.timeouts.append(timeout)
            path = urlsplit(str(request.url)).path
            if path == "/oauth/2.0/token":
                reply = self.token_replies.pop(0) if self.token_replies else self._issue()
            else:
                reply = self.api_replies.pop(0) if self.api_replies else self._success(path)
        if isinstance(reply, Exception):
            raise reply
        status, body = reply
        response = Response()
        response.status_code = status
        response._content = body if isinstance(body, bytes) else json.dumps(body).encode()
        response.headers["Content-Type"] = "application/json;charset=utf-8"
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        pass

    def _issue(self) -> tuple[int, dict[str, Any]]:
        self.issued += 1
        return 200, token_body(self.issued)

    @staticmethod
    def _success(path: str) -> tuple[int, dict[str, Any]]:
        op = path.rsplit("/", 1)[1]
        return 200, {"add": ADDED, "search": FOUND}.get(op, {"log_id": 50488417})

    @property
    def token_calls(self) -> list[PreparedRequest]:
        return [r for r in self.requests if "/oauth/2.0/token" in (r.url or "")]

    @property
    def api_calls(self) -> list[PreparedRequest]:
        return [r for r in self.requests if "/rest/2.0/" in (r.url or "")]


class RecordingLimiter:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def acquire(self, key: str, qps: int) -> None:
        self.calls.append((key, qps))


def form(request: PreparedRequest) -> dict[str, str]:
    assert isinstance(request.body, str | None)
    return dict(parse_qsl(request.body or "", keep_blank_values=True))


def query(request: PreparedRequest) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(str(request.url)).query))


def path(request: PreparedRequest) -> str:
    return urlsplit(str(request.url)).path


def token(n: int) -> str:
    return f"24.token{n}.2592000.1485570332.282335-8574074"


def assert_signed(request: PreparedRequest, host: str = "engine.test") -> None:
    """The request carries a bce-auth-v1 signature that verifies, and no token."""
    assert "access_token" not in query(request)
    assert request.headers["Host"] == host
    date = datetime.strptime(request.headers["x-bce-date"], "%Y-%m-%dT%H:%M:%SZ")
    expected = sign_request(
        "POST",
        request.url or "",
        access_key="my-api-key",
        secret_key="my-secret-key",
        timestamp=date.replace(tzinfo=UTC),
    )
    assert request.headers["authorization"] == expected["authorization"]
    assert request.headers["authorization"].startswith(
        f"bce-auth-v1/my-api-key/{request.headers['x-bce-date']}/1800/host;x-bce-date/"
    )


@pytest.fixture(autouse=True)
def _fresh_token_cache() -> Any:
    baidu._tokens.clear()
    yield
    baidu._tokens.clear()


@pytest.fixture
def fake() -> FakeBaidu:
    return FakeBaidu()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def limiter() -> RecordingLimiter:
    return RecordingLimiter()


@pytest.fixture
def make(
    fake: FakeBaidu, sleeps: list[float], limiter: RecordingLimiter
) -> Callable[..., BaiduClient]:
    def make(**kwargs: Any) -> BaiduClient:
        session = requests.Session()
        session.mount("http://", fake)
        options: dict[str, Any] = {
            "base_url": BASE,
            "credentials": CREDS,
            "session": session,
            "limiter": limiter,
            "sleep": sleeps.append,
        }
        return BaiduClient(**(options | kwargs))

    return make


@pytest.fixture
def client(make: Callable[..., BaiduClient]) -> BaiduClient:
    return make()


# -- signing ---------------------------------------------------------------------------------


def test_sign_request_reproduces_the_appendix_b_vector() -> None:
    headers = sign_request(
        "POST",
        "http://127.0.0.1:8000/rest/2.0/realtime_search/same_hq/add?aipSdk=python&aipVersion=4.15.13",
        access_key="my-api-key",
        secret_key="my-secret-key",
        timestamp=datetime(2026, 11, 21, 19, 27, 25, tzinfo=UTC),
    )
    assert headers == {
        "Host": "127.0.0.1",
        "x-bce-date": "2026-11-21T19:27:25Z",
        "authorization": "bce-auth-v1/my-api-key/2026-11-21T19:27:25Z/1800/host;x-bce-date/"
        "686e47deca08d3f9a48221ffc118d233435367231540640fd073c56443c9a9e4",
    }


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/rest/2.0/realtime_search/same_hq/add",
        "https://aip.baidubce.com/rest/2.0/imagesearch/v1/realtime_search/picturebook/search",
        "http://Engine.Test/rest/2.0/image-classify/v1/realtime_search/product/delete?b=2&a=1",
    ],
)
def test_sign_request_agrees_with_the_official_sdk(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    aip_base = pytest.importorskip("aip.base")
    fixed = datetime(2026, 1, 2, 3, 4, 5)

    class FixedDatetime(datetime):
        @classmethod
        def utcnow(cls) -> datetime:  # type: ignore[override]
            return fixed

    monkeypatch.setattr(aip_base, "datetime", SimpleNamespace(datetime=FixedDatetime))
    sdk = aip_base.AipBase("8574074", "my-api-key", "my-secret-key")
    sdk._isCloudUser = True
    expected = sdk._getAuthHeaders("POST", url, {}, {})
    ours = sign_request(
        "POST",
        url,
        access_key="my-api-key",
        secret_key="my-secret-key",
        timestamp=fixed.replace(tzinfo=UTC),
    )
    assert ours == expected


def test_sign_request_refuses_a_naive_timestamp() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        sign_request("POST", BASE, access_key="a", secret_key="s", timestamp=datetime(2026, 1, 1))


# -- paths and form fields -------------------------------------------------------------------


def test_services_are_the_five_in_contract_order() -> None:
    assert SERVICES == ("same_hq", "similar", "product", "picturebook", "materiel")


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize(
    ("op", "kwargs"),
    [
        ("add", {"image": JPEG, "brief": "b"}),
        ("search", {"image": JPEG}),
        ("update", {"cont_sign": "1,2", "brief": "b"}),
        ("delete", {"cont_signs": ["1,2"]}),
    ],
)
def test_each_operation_posts_a_form_to_the_canonical_path(
    client: BaiduClient, fake: FakeBaidu, service: str, op: str, kwargs: dict[str, Any]
) -> None:
    getattr(client, op)(service, **kwargs)

    (call,) = fake.api_calls
    assert call.method == "POST"
    assert path(call) == PREFIX[service] + op
    assert call.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert query(call) == {"access_token": token(1)}
    expected = {"image": base64.b64encode(JPEG).decode()} if "image" in kwargs else {}
    expected |= {"brief": "b"} if "brief" in kwargs else {}
    expected |= {"cont_sign": "1,2"} if op in ("update", "delete") else {}
    assert form(call) == expected


def test_add_sends_standard_base64_urlencoded_with_brief_and_tags(
    client: BaiduClient, fake: FakeBaidu
) -> None:
    brief = '{"name":"周杰伦", "id":"666"}'
    cont_sign = client.add("similar", image=b"\xfb\xff\xbf", brief=brief, tags=(100, 11))

    assert cont_sign == "4261577168,501945506"
    (call,) = fake.api_calls
    assert form(call) == {"image": "+/+/", "brief": brief, "tags": "100,11"}
    assert isinstance(call.body, str)
    assert "image=%2B%2F%2B%2F" in call.body


def test_product_add_sends_class_ids_and_never_tags(client: BaiduClient, fake: FakeBaidu) -> None:
    client.add("product", url="https://example.com/a.jpg", brief="x", class_id1=3, class_id2=65535)

    (call,) = fake.api_calls
    assert form(call) == {
        "url": "https://example.com/a.jpg",
        "brief": "x",
        "class_id1": "3",
        "class_id2": "65535",
    }


@pytest.mark.parametrize(
    ("service", "kwargs"),
    [("product", {"tags": (1,)}), ("similar", {"class_id1": 1}), ("same_hq", {"class_id2": 2})],
)
def test_fields_of_another_service_are_a_programming_error(
    client: BaiduClient, fake: FakeBaidu, service: str, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match="product"):
        client.add(service, image=JPEG, brief="b", **kwargs)
    assert fake.requests == []


def test_unknown_service_is_a_programming_error(client: BaiduClient, fake: FakeBaidu) -> None:
    with pytest.raises(ValueError, match="unknown service 'faces'"):
        client.search("faces", image=JPEG)
    assert fake.requests == []


def test_search_sends_filters_and_paging_and_returns_the_page(
    client: BaiduClient, fake: FakeBaidu
) -> None:
    page = client.search("materiel", image=JPEG, tags=[100], tag_logic=1, pn=0, rn=300)

    assert page == SearchPage(
        hits=[SearchHit(cont_sign="475124309,1080176642", score=0.979767, brief="./data/jay1.jpg")],
        has_more=False,
        log_id=1968648150,
    )
    (call,) = fake.api_calls
    assert form(call) == {
        "image": base64.b64encode(JPEG).decode(),
        "tags": "100",
        "tag_logic": "1",
        "pn": "0",
        "rn": "300",
    }


def test_search_reads_has_more_and_an_empty_result(client: BaiduClient, fake: FakeBaidu) -> None:
    fake.api_replies = [
        (200, {"log_id": 7, "result_num": 0, "result": [], "has_more": True}),
        (200, {"log_id": 8, "result_num": 0, "result": [], "has_more": False}),
    ]
    assert client.search("product", url="http://x.test/a.png", class_id1=5) == SearchPage(
        hits=[], has_more=True, log_id=7
    )
    assert client.search("similar", image=JPEG).has_more is False
    assert form(fake.api_calls[0]) == {"url": "http://x.test/a.png", "class_id1": "5"}


@pytest.mark.parametrize(
    "result",
    [[{"score": 0.5, "brief": "b"}], [{"cont_sign": 1, "score": 0.5, "brief": "b"}], ["x"], 5],
)
def test_malformed_search_result_is_a_retryable_bad_response(
    client: BaiduClient, fake: FakeBaidu, result: Any
) -> None:
    fake.api_replies = [(200, {"log_id": 1, "result": result, "has_more": False})]
    with pytest.raises(BaiduError) as info:
        client.search("similar", image=JPEG)
    assert (info.value.error_code, info.value.retryable) == ("bad_response", True)


def test_update_sends_only_the_highest_priority_selector(
    client: BaiduClient, fake: FakeBaidu
) -> None:
    client.update("same_hq", cont_sign="1,2", brief="new", tags=[7, 8])
    client.update("same_hq", image=JPEG, url="not even a url", cont_sign="bad", brief="x")
    client.update("product", url="http://x.test/a.png", cont_sign="1,2", class_id2=9)

    assert [form(c) for c in fake.api_calls] == [
        {"cont_sign": "1,2", "brief": "new", "tags": "7,8"},
        {"image": base64.b64encode(JPEG).decode(), "brief": "x"},
        {"url": "http://x.test/a.png", "class_id2": "9"},
    ]


def test_update_leaves_empty_brief_and_tags_out(client: BaiduClient, fake: FakeBaidu) -> None:
    client.update("similar", cont_sign="1,2", brief="", tags=[])
    assert form(fake.api_calls[0]) == {"cont_sign": "1,2"}


def test_delete_joins_a_batch_of_cont_signs(client: BaiduClient, fake: FakeBaidu) -> None:
    batch = [f"{i},{i + 1}" for i in range(100)]
    client.delete("picturebook", cont_signs=batch)
    client.delete("picturebook", url="https://x.test/a.jpg", cont_signs=["1,2"])

    assert form(fake.api_calls[0]) == {"cont_sign": ";".join(batch)}
    assert form(fake.api_calls[1]) == {"url": "https://x.test/a.jpg"}


def test_delete_refuses_more_than_100_or_a_bare_string(
    client: BaiduClient, fake: FakeBaidu
) -> None:
    with pytest.raises(ValueError, match="at most 100"):
        client.delete("same_hq", cont_signs=["1,2"] * 101)
    with pytest.raises(ValueError, match="sequence"):
        client.delete("same_hq", cont_signs="1,2")
    assert fake.requests == []


# -- client-side validation ------------------------------------------------------------------

BIG = b"\x00" * 3_145_729  # base64: 4,194,308 characters, one block over the limit


@pytest.mark.parametrize(
    ("op", "kwargs", "code", "msg"),
    [
        ("add", {"brief": "b"}, 216101, "not enough param"),
        ("add", {"image": JPEG, "brief": ""}, 216101, "not enough param"),
        ("add", {"brief": "x" * 300}, 216101, "not enough param"),  # presence is checked first
        ("add", {"image": JPEG, "brief": "周" * 85 + "ab"}, 216100, "brief too long"),
        ("add", {"image": JPEG, "brief": "b", "tags": (1, 2, 3)}, 216100, "invalid param"),
        ("add", {"image": JPEG, "brief": "b", "tags": (0,)}, 216100, "invalid param"),
        ("add", {"image": JPEG, "brief": "b", "tags": (65536,)}, 216100, "invalid param"),
        ("add", {"image": JPEG, "brief": "b", "tags": (True,)}, 216100, "invalid param"),
        ("add", {"image": b"", "brief": "b"}, 216200, "empty image"),
        ("add", {"image": BIG, "brief": "b"}, 216202, "image size error"),
        ("add", {"url": "", "brief": "b"}, 282114, "url size error"),
        ("add", {"url": "http://x.test/" + "a" * 1011, "brief": "b"}, 282114, "url size error"),
        ("add", {"url": "ftp://x.test/a.jpg", "brief": "b"}, 282111, "url format illegal"),
        ("add", {"url": "http:///a.jpg", "brief": "b"}, 282111, "url format illegal"),
        ("add", {"url": "data:image/png;base64,AA", "brief": "b"}, 282111, "url format illegal"),
        ("search", {}, 216101, "not enough param"),
        ("search", {"image": JPEG, "tag_logic": 2}, 216100, "invalid param"),
        ("search", {"image": JPEG, "pn": -1}, 216100, "invalid param"),
        ("search", {"image": JPEG, "pn": 1000}, 216100, "invalid param"),
        ("search", {"image": JPEG, "rn": 0}, 216100, "invalid param"),
        ("search", {"image": JPEG, "rn": 1001}, 216100, "invalid param"),
        ("search", {"url": "a.jpg", "tags": (1, 2, 3)}, 216100, "invalid param"),  # tags first
        ("update", {"brief": "b"}, 216101, "not enough param"),
        ("update", {"cont_sign": "1,2;3,4"}, 216100, "invalid param"),
        ("update", {"cont_sign": "4294967296,1"}, 216100, "invalid param"),
        ("update", {"cont_sign": " 1,2"}, 216100, "invalid param"),
        ("update", {"cont_sign": "1,2", "brief": "é" * 129}, 216100, "brief too long"),
        ("delete", {}, 216101, "not enough param"),
        ("delete", {"cont_signs": ["1,2", "3"]}, 216100, "invalid param"),
        ("delete", {"cont_signs": ["\u0661,\u0662"]}, 216100, "invalid param"),
    ],
)
def test_invalid_input_fails_before_sending_with_the_servers_code(
    client: BaiduClient, fake: FakeBaidu, op: str, kwargs: dict[str, Any], code: int, msg: str
) -> None:
    with pytest.raises(BaiduError) as info:
        getattr(client, op)("similar", **kwargs)
    assert (info.value.error_code, info.value.error_msg, info.value.retryable) == (code, msg, False)
    assert fake.requests == []


@pytest.mark.parametrize(
    "kwargs", [{"class_id1": 0}, {"class_id1": 65536}, {"class_id2": 0}, {"class_id2": "5"}]
)
def test_product_class_ids_out_of_range_are_invalid(
    client: BaiduClient, fake: FakeBaidu, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(BaiduError) as info:
        client.search("product", image=JPEG, **kwargs)
    assert (info.value.error_code, info.value.error_msg) == (216100, "invalid param")
    assert fake.requests == []


def test_limits_are_inclusive(client: BaiduClient, fake: FakeBaidu) -> None:
    largest = b"\x00" * 3_145_728
    client.add("similar", image=largest, brief="周" * 85 + "a", tags=(1, 65535))
    client.add("similar", url="http://x.test/" + "a" * 1010, brief="b")
    client.search("similar", image=JPEG, pn=999, rn=1000, tag_logic=0)

    sent = form(fake.api_calls[0])
    assert len(sent["image"]) == 4_194_304
    assert len(sent["brief"].encode()) == 256
    assert len(form(fake.api_calls[1])["url"]) == 1024
    assert form(fake.api_calls[2])["rn"] == "1000"


# -- tokens ----------------------------------------------------------------------------------


def test_token_is_fetched_once_by_get_and_shared_by_clients(
    make: Callable[..., BaiduClient], fake: FakeBaidu
) -> None:
    first, second = make(), make()
    first.search("same_hq", image=JPEG)
    first.add("same_hq", image=JPEG, brief="b")
    second.delete("same_hq", cont_signs=["1,2"])

    (fetch,) = fake.token_calls
    assert fetch.method == "GET"
    assert path(fetch) == "/oauth/2.0/token"
    assert query(fetch) == {
        "grant_type": "client_credentials",
        "client_id": "my-api-key",
        "client_secret": "my-secret-key",
    }
    assert [query(c)["access_token"] for c in fake.api_calls] == [token(1)] * 3


def test_token_cache_is_per_secret(make: Callable[..., BaiduClient], fake: FakeBaidu) -> None:
    make().search("same_hq", image=JPEG)
    rotated = dataclasses.replace(CREDS, secret_key="rotated")
    make(credentials=rotated).search("same_hq", image=JPEG)

    assert len(fake.token_calls) == 2
    assert query(fake.token_calls[1])["client_secret"] == "rotated"


def test_token_is_renewed_shortly_before_it_expires(
    make: Callable[..., BaiduClient], fake: FakeBaidu
) -> None:
    now = [1000.0]
    client = make(clock=lambda: now[0])
    client.search("same_hq", image=JPEG)
    now[0] += 2592000 - 61
    client.search("same_hq", image=JPEG)
    now[0] += 2
    client.search("same_hq", image=JPEG)

    assert len(fake.token_calls) == 2
    assert [query(c)["access_token"] for c in fake.api_calls] == [token(1), token(1), token(2)]


def test_token_without_expires_in_is_fetched_for_every_call(
    client: BaiduClient, fake: FakeBaidu
) -> None:
    fake.token_replies = [(200, token_body(1) | {"expires_in": None}), (200, token_body(2))]
    client.search("same_hq", image=JPEG)
    client.search("same_hq", image=JPEG)

    assert len(fake.token_calls) == 2


def test_concurrent_first_calls_fetch_one_token(client: BaiduClient, fake: FakeBaidu) -> None:
    threads = [
        threading.Thread(target=client.search, args=("similar",), kwargs={"image": JPEG})
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(fake.token_calls) == 1
    assert len(fake.api_calls) == 8


@pytest.mark.parametrize(
    "reply",
    [
        err(110, "Access token invalid or no longer valid"),
        err(111, "Access token expired"),
        err("110", "Access token invalid or no longer valid"),
    ],
)
def test_rejected_token_is_renewed_and_the_call_retried_once(
    client: BaiduClient, fake: FakeBaidu, reply: Reply
) -> None:
    fake.api_replies = [reply]
    assert client.add("similar", image=JPEG, brief="b") == "4261577168,501945506"
    client.search("similar", image=JPEG)

    assert len(fake.token_calls) == 2
    assert [query(c)["access_token"] for c in fake.api_calls] == [token(1), token(2), token(2)]
    assert form(fake.api_calls[0]) == form(fake.api_calls[1])


def test_token_rejected_twice_is_not_retried_again(client: BaiduClient, fake: FakeBaidu) -> None:
    fake.api_replies = [err(110, "Access token invalid or no longer valid")] * 2
    with pytest.raises(BaiduError) as info:
        client.search("similar", image=JPEG)

    assert (info.value.error_code, info.value.retryable) == (110, False)
    assert len(fake.api_calls) == 2
    assert len(fake.token_calls) == 2


def test_fetch_token_returns_a_fresh_token(client: BaiduClient, fake: FakeBaidu) -> None:
    assert client.fetch_token() == token(1)
    assert client.fetch_token() == token(2)
    client.search("same_hq", image=JPEG)
    assert query(fake.api_calls[0])["access_token"] == token(2)


def test_fetch_token_raises_the_oauth_error(client: BaiduClient, fake: FakeBaidu) -> None:
    fake.token_replies = [
        (401, {"error": "invalid_client", "error_description": "Client authentication failed"})
    ]
    with pytest.raises(BaiduError) as info:
        client.fetch_token()
    assert (info.value.error_code, info.value.error_msg, info.value.retryable) == (
        "invalid_client",
        "Client authentication failed",
        False,
    )


def test_token_endpoint_without_access_token_is_a_bad_response(
    client: BaiduClient, fake: FakeBaidu
) -> None:
    fake.token_replies = [(200, {"expires_in": 2592000})]
    with pytest.raises(BaiduError) as info:
        client.search("same_hq", image=JPEG)
    assert (info.value.error_code, info.value.retryable) == ("bad_response", True)
    assert fake.api_calls == []


# -- signing mode ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token_reply",
    [
        OAUTH_UNKNOWN,
        (400, {"error": "unsupported_grant_type", "error_description": "not supported"}),
        (200, token_body(1, scope="public")),
        (200, token_body(1, scope="public brain_all_scopes")),
    ],
)
def test_auto_signs_when_the_token_endpoint_refuses_or_lacks_the_scope(
    client: BaiduClient, fake: FakeBaidu, token_reply: Reply
) -> None:
    fake.token_replies = [token_reply]
    client.add("same_hq", image=JPEG, brief="b")
    client.search("same_hq", image=JPEG)

    assert len(fake.token_calls) == 1
    assert len(fake.api_calls) == 2
    for call in fake.api_calls:
        assert_signed(call)
        assert query(call) == {}


def test_sign_mode_never_fetches_a_token(make: Callable[..., BaiduClient], fake: FakeBaidu) -> None:
    client = make(auth_mode="sign", base_url="http://LOCALHOST:8000/")
    client.update("materiel", cont_sign="1,2", brief="b")

    assert fake.token_calls == []
    assert_signed(fake.api_calls[0], host="localhost")
    assert path(fake.api_calls[0]) == PREFIX["materiel"] + "update"


def test_token_mode_never_signs(make: Callable[..., BaiduClient], fake: FakeBaidu) -> None:
    client = make(auth_mode="token")
    fake.token_replies = [(200, token_body(1, scope="public")), OAUTH_UNKNOWN]
    client.search("similar", image=JPEG)
    assert query(fake.api_calls[0]) == {"access_token": token(1)}
    assert "authorization" not in fake.api_calls[0].headers

    baidu._tokens.clear()
    with pytest.raises(BaiduError) as info:
        client.search("similar", image=JPEG)
    assert (info.value.error_code, info.value.retryable) == ("invalid_client", False)
    assert len(fake.api_calls) == 1


def test_detect_auth_mode_token_with_scope(client: BaiduClient) -> None:
    assert client.detect_auth_mode() == "token"


def test_detect_auth_mode_sign_when_scope_is_missing(client: BaiduClient, fake: FakeBaidu) -> None:
    fake.token_replies = [(200, token_body(1, scope="public"))]
    assert client.detect_auth_mode() == "sign"
    assert fake.api_calls == []


def test_detect_auth_mode_probes_with_a_signature_after_an_oauth_error(
    client: BaiduClient, fake: FakeBaidu
) -> None:
    fake.token_replies = [OAUTH_UNKNOWN]
    fake.api_replies = [err(216101, "not enough param")]
    assert client.detect_auth_mode() == "sign"

    (probe,) = fake.api_calls
    assert path(probe) == PREFIX["same_hq"] + "search"
    assert form(probe) == {}
    assert probe.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert_signed(probe)
    client.search("similar", image=JPEG)  # the client now signs without asking for a token
    assert len(fake.token_calls) == 1
    assert_signed(fake.api_calls[1])


def test_detect_auth_mode_reports_a_rejected_signature(
    client: BaiduClient, fake: FakeBaidu
) -> None:
    fake.token_replies = [OAUTH_UNKNOWN]
    fake.api_replies = [err(14, "IAM Certification failed", log_id=42)]
    with pytest.raises(BaiduError) as info:
        client.detect_auth_mode()
    assert (info.value.error_code, info.value.error_msg, info.value.retryable) == (
        14,
        "IAM Certification failed",
        False,
    )
    assert info.value.log_id == 42


# -- errors ----------------------------------------------------------------------------------


def test_error_is_read_from_the_body_of_an_http_200(client: BaiduClient, fake: FakeBaidu) -> None:
    fake.api_replies = [(200, ITEM_EXIST)]
    with pytest.raises(BaiduError) as info:
        client.add("same_hq", image=JPEG, brief="b")
    error = info.value
    assert (error.error_code, error.error_msg, error.retryable, error.log_id) == (
        216681,
        "item exist",
        False,
        73100921,
    )
    assert str(error) == "216681 item exist (log_id 73100921)"


@pytest.mark.parametrize(
    ("reply", "code", "retryable"),
    [
        ((500, {"log_id": 1, "error_code": 282000, "error_msg": "internal error"}), 282000, True),
        ((503, {"log_id": 1, "error_code": 2, "error_msg": "x"}), 2, True),
        ((200, {"log_id": 1, "error_code": 216630, "error_msg": "recognize error"}), 216630, True),
        ((200, {"log_id": 1, "error_code": 216634, "error_msg": "detect error"}), 216634, True),
        ((200, {"log_id": 1, "error_code": 1, "error_msg": "Unknown error"}), 1, True),
        ((200, {"log_id": 1, "error_code": 4, "error_msg": "x"}), 4, True),
        ((200, {"log_id": 1, "error_code": 216401, "error_msg": "internal error"}), 216401, False),
        ((200, {"log_id": 1, "error_code": 6, "error_msg": "x"}), 6, False),
        ((200, {"error_code": "SDK108", "error_msg": "connection timeout"}), "SDK108", False),
        ((200, {"log_id": "9", "error_code": "216100", "error_msg": "x"}), 216100, False),
    ],
)  # fmt: skip
def test_error_code_decides_and_retryable_follows_the_code(
    client: BaiduClient, fake: FakeBaidu, reply: Reply, code: int | str, retryable: bool
) -> None:
    fake.api_replies = [reply]
    with pytest.raises(BaiduError) as info:
        client.search("similar", image=JPEG)
    assert (info.value.error_code, info.value.retryable) == (code, retryable)


def test_success_body_wins_over_an_http_error_status(client: BaiduClient, fake: FakeBaidu) -> None:
    fake.api_replies = [(500, {"log_id": 3})]
    client.delete("same_hq", cont_signs=["1,2"])  # does not raise


@pytest.mark.parametrize(
    ("status", "body"),
    [(502, b"<html>Bad Gateway</html>"), (200, b""), (200, b"[1, 2]"), (200, b"\xff\xfe{")],
)
def test_a_body_that_is_not_a_json_object_is_a_retryable_bad_response(
    client: BaiduClient, fake: FakeBaidu, status: int, body: bytes
) -> None:
    fake.api_replies = [(status, body)]
    with pytest.raises(BaiduError) as info:
        client.search("similar", image=JPEG)
    assert (info.value.error_code, info.value.retryable) == ("bad_response", True)
    assert info.value.error_msg == f"HTTP {status}: body is not a JSON object"


LEAKY = f"Max retries exceeded with url: /x?access_token={token(1)}&client_secret=my-secret-key"


@pytest.mark.parametrize(
    ("exc", "code", "retryable"),
    [
        (requests.exceptions.ReadTimeout(LEAKY), "timeout", True),
        (requests.exceptions.ConnectTimeout(LEAKY), "timeout", True),
        (requests.exceptions.ConnectionError(LEAKY), "connection", True),
        (requests.exceptions.ProxyError(LEAKY), "connection", True),
        (requests.exceptions.ChunkedEncodingError(LEAKY), "connection", True),
        (requests.exceptions.SSLError(LEAKY), "tls", False),
    ],
)
def test_transport_failures_become_baidu_errors_without_secrets(
    client: BaiduClient, fake: FakeBaidu, exc: Exception, code: str, retryable: bool
) -> None:
    fake.api_replies = [exc]
    with pytest.raises(BaiduError) as info:
        client.search("similar", image=JPEG)
    error = info.value
    assert (error.error_code, error.retryable) == (code, retryable)
    # In words, for the page that shows it: never the raw exception with its URL.
    assert "Max retries" not in error.error_msg and error.error_msg.endswith(".")
    for text in (str(error), repr(error), error.error_msg):
        assert "my-secret-key" not in text
        assert token(1) not in text
    assert error.__cause__ is None
    assert error.__suppress_context__


def test_token_endpoint_timeout_is_retryable_and_does_not_switch_to_signing(
    client: BaiduClient, fake: FakeBaidu
) -> None:
    fake.token_replies = [requests.exceptions.ReadTimeout(LEAKY)]
    with pytest.raises(BaiduError) as info:
        client.search("similar", image=JPEG)
    assert (info.value.error_code, info.value.retryable) == ("timeout", True)
    assert "my-secret-key" not in str(info.value)

    client.search("similar", image=JPEG)
    assert query(fake.api_calls[0]) == {"access_token": token(1)}


def test_baidu_error_survives_pickling() -> None:
    error = BaiduError(18, "Open api qps request limit reached", log_id=5)
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 (our own bytes)
    assert (copy.error_code, copy.error_msg, copy.retryable, copy.log_id) == (
        18,
        "Open api qps request limit reached",
        True,
        5,
    )


# -- QPS -------------------------------------------------------------------------------------

QPS = err(18, "Open api qps request limit reached")


def test_qps_limit_backs_off_doubling_then_succeeds(
    client: BaiduClient, fake: FakeBaidu, sleeps: list[float], limiter: RecordingLimiter
) -> None:
    fake.api_replies = [QPS] * 4
    assert client.add("similar", image=JPEG, brief="b") == "4261577168,501945506"

    assert sleeps == [1.0, 2.0, 4.0, 8.0]
    assert len(fake.api_calls) == 5
    assert limiter.calls == [("my-api-key", 10)] * 5


def test_qps_limit_gives_up_after_five_tries(
    client: BaiduClient, fake: FakeBaidu, sleeps: list[float]
) -> None:
    fake.api_replies = [QPS] * 6
    with pytest.raises(BaiduError) as info:
        client.search("similar", image=JPEG)

    assert (info.value.error_code, info.value.retryable) == (18, True)
    assert sleeps == [1.0, 2.0, 4.0, 8.0]
    assert len(fake.api_calls) == 5


def test_qps_answers_backed_off_are_recorded_as_retried_and_counted_on_the_outcome(
    make: Callable[..., BaiduClient], fake: FakeBaidu, sleeps: list[float]
) -> None:
    records: list[CallRecord] = []
    client = make(on_call=records.append)
    fake.api_replies = [QPS, QPS, (200, ADDED), *[QPS] * 5]
    client.add("similar", image=JPEG, brief="b")
    with pytest.raises(BaiduError):
        client.search("similar", image=JPEG)

    assert [(r.operation, r.error_code, r.retried, r.qps_retries) for r in records] == [
        ("add", 18, True, 0),
        ("add", 18, True, 1),
        ("add", None, False, 2),  # got through after backing off twice
        *[("search", 18, True, n) for n in range(4)],
        ("search", 18, False, 4),  # the fifth: given up, the operation's outcome
    ]


def test_limiter_key_and_qps_are_passed_for_api_calls_only(
    make: Callable[..., BaiduClient], fake: FakeBaidu, limiter: RecordingLimiter
) -> None:
    client = make(qps=2, limiter_key="tuku-app-7")
    client.search("similar", image=JPEG)
    client.delete("similar", cont_signs=["1,2"])

    assert len(fake.token_calls) == 1
    assert limiter.calls == [("tuku-app-7", 2)] * 2


def test_timeouts_are_passed_on_every_request(
    make: Callable[..., BaiduClient], fake: FakeBaidu
) -> None:
    make().search("similar", image=JPEG)
    make(timeout=(1.5, 7.0)).search("similar", image=JPEG)
    assert fake.timeouts == [(5.0, 30.0), (5.0, 30.0), (1.5, 7.0)]


# -- records, logs, secrets ------------------------------------------------------------------


def test_on_call_records_every_api_exchange(
    make: Callable[..., BaiduClient], fake: FakeBaidu
) -> None:
    records: list[CallRecord] = []
    client = make(on_call=records.append)
    fake.api_replies = [
        err(110, "Access token invalid or no longer valid", log_id=11),
        (200, ADDED),
        (200, ITEM_EXIST),
        requests.exceptions.ReadTimeout("slow"),
    ]
    client.add("same_hq", image=JPEG, brief="b")
    with pytest.raises(BaiduError):
        client.add("same_hq", image=JPEG, brief="b")
    with pytest.raises(BaiduError):
        client.search("product", image=JPEG)

    assert all(r.latency_ms >= 0 for r in records)
    assert [dataclasses.replace(r, latency_ms=0) for r in records] == [
        # A stale token renewed: the answer was retried, not the operation's outcome.
        CallRecord(
            "same_hq", "add", 110, "Access token invalid or no longer valid", 0, 11, retried=True
        ),
        CallRecord("same_hq", "add", None, "", 0, 2263663554),
        CallRecord("same_hq", "add", 216681, "item exist", 0, 73100921),
        CallRecord("product", "search", "timeout", "No answer in time.", 0, None),
    ]


def test_secrets_stay_out_of_reprs_and_logs(
    client: BaiduClient, fake: FakeBaidu, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.api_replies = [err(110, "Access token invalid or no longer valid")]
    client.search("similar", image=JPEG)
    fake.token_replies = [OAUTH_UNKNOWN]
    baidu._tokens.clear()
    with pytest.raises(BaiduError) as info:
        client.fetch_token()

    texts = [repr(CREDS), str(CREDS), repr(client), str(info.value), repr(info.value), caplog.text]
    for text in texts:
        assert "my-secret-key" not in text
        assert "24.token" not in text
    assert repr(CREDS) == "Credentials(app_id='8574074', api_key='my-api-key')"
    assert "baidu similar/search code=110" in caplog.text
    assert "baidu similar/search code=None" in caplog.text


@pytest.mark.parametrize(
    "kwargs",
    [{"base_url": "engine.test"}, {"base_url": "ftp://x"}, {"auth_mode": "x"}, {"qps": -1}],
)
def test_bad_configuration_fails_at_construction(
    make: Callable[..., BaiduClient], kwargs: dict[str, Any]
) -> None:
    with pytest.raises(ValueError):
        make(**kwargs)
