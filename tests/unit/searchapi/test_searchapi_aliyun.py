"""AliyunClient against the wire contract (../shared/spec/aliyun-image-search-api.md), with the
hosted endpoint stubbed only at the HTTP transport (tests/fakealiyun.py), and its requests
compared with the official SDK's."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import logging
import pickle
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from searchapi import aliyun
from searchapi.aliyun import (
    AliyunClient,
    AliyunError,
    Attributes,
    Auction,
    CallRecord,
    Condition,
    Credentials,
    Instance,
    PicInfo,
    SearchResult,
    filter_clause,
)
from tests.fakealiyun import FakeAliyun, FakeInstance, Picture
from wire.aliyun import ERRORS

ENDPOINT = "https://imagesearch.cn-shanghai.aliyuncs.com"
HOST = "imagesearch.cn-shanghai.aliyuncs.com"
FAKE = FakeAliyun()
CREDS = Credentials(FAKE.access_key_id, FAKE.access_key_secret)
SECRET = FAKE.access_key_secret
JPEG = b"\xff\xd8\xff\xe0 fake jpeg bytes"
OTHER = b"\x89PNG other picture"
STAMP = datetime(2026, 11, 21, 19, 54, 23, tzinfo=UTC)
NONCE = "3027e0809b4934d875ae539f223a3fc5"
SDK_AGENT = "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class RecordingLimiter:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def acquire(self, key: str, qps: int) -> None:
        self.calls.append((key, qps))


@pytest.fixture
def fake() -> FakeAliyun:
    return FakeAliyun()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def limiter() -> RecordingLimiter:
    return RecordingLimiter()


@pytest.fixture
def make(
    fake: FakeAliyun, sleeps: list[float], limiter: RecordingLimiter
) -> Callable[..., AliyunClient]:
    def make(**kwargs: Any) -> AliyunClient:
        session = requests.Session()
        session.mount("https://", fake)
        session.mount("http://", fake)
        options: dict[str, Any] = {
            "endpoint": ENDPOINT,
            "credentials": CREDS,
            "region_id": "cn-shanghai",
            "session": session,
            "limiter": limiter,
            "sleep": sleeps.append,
        }
        return AliyunClient(**(options | kwargs))

    return make


@pytest.fixture(params=["acs3", "v2"])
def signature(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def client(make: Callable[..., AliyunClient], signature: str) -> AliyunClient:
    return make(signature=signature)


@pytest.fixture
def fixed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The signed values that change per call, fixed: date, nonce, user agent (the SDK's)."""
    monkeypatch.setattr(aliyun, "_utc_now", lambda: STAMP)
    monkeypatch.setattr(aliyun, "_nonce", lambda: NONCE)
    monkeypatch.setattr(aliyun, "USER_AGENT", SDK_AGENT)


def stored(fake: FakeAliyun, product: str = "shoe", pic: str = "main", **attrs: Any) -> None:
    fake.instances["demo"].pictures[(product, pic)] = Picture(
        sha256=hashlib.sha256(JPEG).hexdigest(),
        category_id=attrs.pop("category_id", 88888888),
        int_attrs=attrs.pop("int_attrs", [7, None, None, None]),
        str_attrs=attrs.pop("str_attrs", ["red", "", "", ""]),
        custom_content=attrs.pop("custom_content", "k:v"),
    )


# -- signatures: the spec's vectors and the official SDK -------------------------------------


def test_acs3_request_reproduces_the_spec_vector(
    make: Callable[..., AliyunClient], fake: FakeAliyun, fixed: None
) -> None:
    client = make(
        endpoint="http://127.0.0.1:38517", credentials=Credentials("test-ak", "test-secret")
    )
    with pytest.raises(AliyunError):  # the fake knows other keys; the request is what counts
        client.search_image_by_pic("demoinst", image=b"hello", score_threshold=0.5)
    sent = fake.calls[-1]
    assert sent.url == "http://127.0.0.1:38517/?ScoreThreshold=0.5"
    assert sent.body == b"Crop=True&InstanceName=demoinst&Num=10&PicContent=aGVsbG8%3D&Start=0"
    assert sent.headers["x-acs-content-sha256"] == (
        "d6e6389af332561bd801ba698c96262402541d370bf2155634d715d5d58f7bd6"
    )
    assert sent.headers["authorization"] == (
        "ACS3-HMAC-SHA256 Credential=test-ak,SignedHeaders=accept;content-type;host;user-agent;"
        "x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;"
        "x-acs-signature-nonce;x-acs-version,"
        "Signature=3b444f3fdb46a429134fbf870f361842d0e458678366bf78d0f58d17a9463d0f"
    )


def test_v2_request_reproduces_the_spec_vector(
    make: Callable[..., AliyunClient], fake: FakeAliyun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aliyun, "_utc_now", lambda: STAMP)
    monkeypatch.setattr(aliyun, "_nonce", lambda: "7f92034a8aec95c00cd67b1bf71082c0")
    client = make(
        endpoint="http://127.0.0.1:38517",
        credentials=Credentials("test-ak", "test-secret"),
        signature="v2",
    )
    with pytest.raises(AliyunError):
        client.search_image_by_pic("demoinst", image=b"hello", score_threshold=0.5)
    sent = fake.calls[-1]
    assert sent.url == (
        "http://127.0.0.1:38517/?Action=SearchImageByPic&Format=json&Version=2020-12-14"
        "&Timestamp=2026-11-21T19%3A54%3A23Z&SignatureNonce=7f92034a8aec95c00cd67b1bf71082c0"
        "&ScoreThreshold=0.5&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&AccessKeyId=test-ak"
        "&Signature=Xes2L%2Be8vpPSJ3Gxc0TiMgzejJ4%3D"
    )
    assert sent.body == b"Crop=True&InstanceName=demoinst&Num=10&PicContent=aGVsbG8%3D&Start=0"
    assert "authorization" not in sent.headers


ATTRS = Attributes((7, -8, 9, 2**31 - 1), ("red", "x y", "~", "中文"), "k:v & more")
SDK_ATTRS = {
    "int_attr": 7,
    "int_attr_2": -8,
    "int_attr_3": 9,
    "int_attr_4": 2**31 - 1,
    "str_attr": "red",
    "str_attr_2": "x y",
    "str_attr_3": "~",
    "str_attr_4": "中文",
    "custom_content": "k:v & more",
}
FILTER = 'int_attr >= 3 AND str_attr = "red"'

# Each operation called with every field it takes, through the SDK and through our client.
SAME_CALLS: dict[str, tuple[Callable[[Any, Any], Any], Callable[[AliyunClient], Any]]] = {
    "Detail": (
        lambda sdk, m: sdk.detail(m.DetailRequest(instance_name="demo")),
        lambda c: c.detail("demo"),
    ),
    "AddImage": (
        lambda sdk, m: sdk.add_image(
            m.AddImageRequest(
                instance_name="demo",
                product_id="p 1",
                pic_name="a+b",
                pic_content=b64(JPEG),
                category_id=3,
                crop=False,
                region="1,20,3,40",
                **SDK_ATTRS,
            )
        ),
        lambda c: c.add_image(
            "demo",
            product_id="p 1",
            pic_name="a+b",
            image=JPEG,
            category_id=3,
            crop=False,
            region=(1, 20, 3, 40),
            attributes=ATTRS,
        ),
    ),
    "SearchImageByPic": (
        lambda sdk, m: sdk.search_image_by_pic(
            m.SearchImageByPicRequest(
                instance_name="demo",
                pic_content=b64(JPEG),
                category_id=3,
                crop=True,
                region="1,20,3,40",
                filter=FILTER,
                distinct_product_id=True,
                score_threshold="0.55",
                start=5,
                num=20,
            )
        ),
        lambda c: c.search_image_by_pic(
            "demo",
            image=JPEG,
            category_id=3,
            crop=True,
            region=(1, 20, 3, 40),
            filter=FILTER,
            distinct_product_id=True,
            score_threshold=0.55,
            start=5,
            num=20,
        ),
    ),
    "SearchImageByName": (
        lambda sdk, m: sdk.search_image_by_name(
            m.SearchImageByNameRequest(
                instance_name="demo",
                product_id="shoe",
                pic_name="main",
                category_id=3,
                filter=FILTER,
                distinct_product_id=True,
                score_threshold="1",
                start=0,
                num=100,
            )
        ),
        lambda c: c.search_image_by_name(
            "demo",
            product_id="shoe",
            pic_name="main",
            category_id=3,
            filter=FILTER,
            distinct_product_id=True,
            score_threshold=1.0,
            start=0,
            num=100,
        ),
    ),
    "SearchImageByFilter": (
        lambda sdk, m: sdk.search_image_by_filter(
            m.SearchImageByFilterRequest(instance_name="demo", filter=FILTER, start=2, num=3)
        ),
        lambda c: c.search_image_by_filter("demo", filter=FILTER, start=2, num=3),
    ),
    "DeleteImage": (
        lambda sdk, m: sdk.delete_image(
            m.DeleteImageRequest(instance_name="demo", product_id="shoe", pic_name="main")
        ),
        lambda c: c.delete_image("demo", product_id="shoe", pic_name="main"),
    ),
    "DeleteImage by filter": (
        lambda sdk, m: sdk.delete_image(
            m.DeleteImageRequest(instance_name="demo", is_delete_by_filter=True, filter=FILTER)
        ),
        lambda c: c.delete_image("demo", filter=FILTER),
    ),
    "UpdateImage": (
        lambda sdk, m: sdk.update_image(
            m.UpdateImageRequest(
                instance_name="demo", product_id="shoe", pic_name="main", **SDK_ATTRS
            )
        ),
        lambda c: c.update_image("demo", product_id="shoe", pic_name="main", attributes=ATTRS),
    ),
    "CheckImageExists": (
        lambda sdk, m: sdk.check_image_exists(
            m.CheckImageExistsRequest(instance_name="demo", product_id="shoe", pic_name="main")
        ),
        lambda c: c.check_image_exists("demo", product_id="shoe", pic_name="main"),
    ),
    "CompareSimilarByImage": (
        lambda sdk, m: sdk.compare_similar_by_image(
            m.CompareSimilarByImageRequest(
                instance_name="demo",
                primary_pic_content=b64(JPEG),
                secondary_pic_content=b64(OTHER),
            )
        ),
        lambda c: c.compare_similar_by_image("demo", primary=JPEG, secondary=OTHER),
    ),
}


def on_the_wire(request: requests.PreparedRequest) -> dict[str, Any]:
    """What a request says, less what the HTTP library adds on its own and nobody signs."""
    added = {"accept-encoding", "connection", "content-length"}
    headers = {
        name.lower(): value
        for name, value in request.headers.items()
        if name.lower() not in added and (name.lower(), value) != ("accept", "*/*")
    }
    body = request.body.encode() if isinstance(request.body, str) else request.body
    return {"method": request.method, "url": request.url, "body": body, "headers": headers}


@pytest.mark.parametrize("operation", list(SAME_CALLS))
def test_requests_are_the_official_sdks_byte_for_byte(
    make: Callable[..., AliyunClient],
    fake: FakeAliyun,
    signature: str,
    fixed: None,
    monkeypatch: pytest.MonkeyPatch,
    operation: str,
) -> None:
    """Same URL (query placement included), same body bytes, same headers and the same ACS3
    or v2 signature as the unmodified SDK for the same call, and both accepted by the fake."""
    sdk_client = pytest.importorskip("alibabacloud_imagesearch20201214.client")
    models = pytest.importorskip("alibabacloud_imagesearch20201214.models")
    from alibabacloud_tea_openapi import models as open_api_models
    from alibabacloud_tea_openapi.utils import Utils
    from darabonba.core import DaraCore

    monkeypatch.setattr(Utils, "get_timestamp", staticmethod(lambda: "2026-11-21T19:54:23Z"))
    monkeypatch.setattr(Utils, "get_nonce", staticmethod(lambda: NONCE))
    session = requests.Session()
    session.mount("https://", fake)
    # The SDK keeps its own sessions; this hands it ours, so its request reaches the fake.
    monkeypatch.setattr(DaraCore, "_get_session", staticmethod(lambda **kwargs: session))
    monkeypatch.setattr(aliyun, "USER_AGENT", Utils.get_user_agent(None))
    config = open_api_models.Config(
        access_key_id=CREDS.access_key_id,
        access_key_secret=SECRET,
        endpoint=HOST,
        region_id="cn-shanghai",
    )
    if signature == "v2":
        config.signature_algorithm = "v2"
    sdk_call, our_call = SAME_CALLS[operation]

    stored(fake)
    sdk_call(sdk_client.Client(config), models)
    stored(fake)
    our_call(make(signature=signature))

    assert len(fake.calls) == 2
    sent = [requests.Request("POST", c.url, headers=c.headers, data=c.body) for c in fake.calls]
    theirs, ours = (on_the_wire(r.prepare()) for r in sent)
    assert ours == theirs
    assert ours["headers"]["host"] == HOST
    acs3 = ours["headers"].get("authorization", "").startswith("ACS3-HMAC-SHA256 ")
    assert acs3 == (signature == "acs3")
    assert ("&Signature=" in ours["url"]) == (signature == "v2")


# The SDK's shortcomings that docs/aliyun-wire.md gives as reasons for not using it.


class _Recorder(BaseHTTPRequestHandler):
    """Answers Detail, or one redirect first; records each request line's target."""

    targets: list[str]
    redirects: list[str]

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.targets.append(self.path)
        if self.redirects:
            self.send_response(307)
            self.send_header("Location", self.redirects.pop(0))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b'{"RequestId": "R", "Success": true, "Instance": {"Name": "demo"}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def recorder() -> Iterator[tuple[str, type[_Recorder]]]:
    handler = type("Handler", (_Recorder,), {"targets": [], "redirects": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def _sdk(endpoint: str, **config: Any) -> Any:
    sdk_client = pytest.importorskip("alibabacloud_imagesearch20201214.client")
    from alibabacloud_tea_openapi import models as open_api_models

    return sdk_client.Client(
        open_api_models.Config(
            access_key_id="ak",
            access_key_secret="sk",
            endpoint=endpoint,
            protocol="http",
            region_id="cn-shanghai",
            **config,
        )
    )


def test_the_sdk_uses_http_proxy_for_127_0_0_1_whatever_no_proxy_says(
    recorder: tuple[str, type[_Recorder]], monkeypatch: pytest.MonkeyPatch
) -> None:
    address, handler = recorder
    with socket.socket() as probe:  # a port nothing listens on: only the proxy can answer
        probe.bind(("127.0.0.1", 0))
        target = f"127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setenv("HTTP_PROXY", f"http://{address}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    models = pytest.importorskip("alibabacloud_imagesearch20201214.models")

    _sdk(target, no_proxy="127.0.0.1").detail(models.DetailRequest(instance_name="demo"))
    assert handler.targets[0].startswith(f"http://{target}/?")  # a proxy's absolute target

    ours = AliyunClient(endpoint=f"http://{address}", credentials=CREDS, region_id="cn-shanghai")
    with pytest.raises(AliyunError) as refused:  # the recorder's Detail lacks fields
        ours.detail("demo")
    assert refused.value.error_code == "bad_response"
    assert handler.targets[1].startswith("/?")  # requests honours NO_PROXY: no proxy


def test_the_sdk_follows_redirects_and_ours_does_not(
    recorder: tuple[str, type[_Recorder]], monkeypatch: pytest.MonkeyPatch
) -> None:
    address, handler = recorder
    for name in ("HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    models = pytest.importorskip("alibabacloud_imagesearch20201214.models")
    handler.redirects.append("/elsewhere")
    _sdk(address).detail(models.DetailRequest(instance_name="demo"))
    assert [t.split("?")[0] for t in handler.targets] == ["/", "/elsewhere"]

    handler.redirects.append("/elsewhere")
    ours = AliyunClient(endpoint=f"http://{address}", credentials=CREDS, region_id="cn-shanghai")
    with pytest.raises(AliyunError) as refused:
        ours.detail("demo")
    assert (refused.value.error_code, refused.value.retryable) == ("redirect", False)
    assert len(handler.targets) == 3  # one request, the redirect not followed


# -- where each parameter travels (spec §6) --------------------------------------------------

# Copied from the spec's table, not from wire.aliyun, so that the two are checked against
# each other: (query parameters, body parameters) when every field is given.
PLACEMENT = {
    "Detail": ({"InstanceName"}, set()),
    "AddImage": (
        set(),
        {"CategoryId", "Crop", "CustomContent", "InstanceName", "IntAttr", "IntAttr2"}
        | {"IntAttr3", "IntAttr4", "PicContent", "PicName", "ProductId", "Region", "StrAttr"}
        | {"StrAttr2", "StrAttr3", "StrAttr4"},
    ),
    "SearchImageByPic": (
        {"ScoreThreshold"},
        {"CategoryId", "Crop", "DistinctProductId", "Filter", "InstanceName", "Num"}
        | {"PicContent", "Region", "Start"},
    ),
    "SearchImageByName": (
        {"ScoreThreshold"},
        {"CategoryId", "DistinctProductId", "Filter", "InstanceName", "Num", "PicName"}
        | {"ProductId", "Start"},
    ),
    "SearchImageByFilter": (set(), {"Filter", "InstanceName", "Num", "Start"}),
    "DeleteImage": (set(), {"InstanceName", "PicName", "ProductId"}),
    "DeleteImage by filter": (set(), {"Filter", "InstanceName", "IsDeleteByFilter"}),
    "UpdateImage": (
        {"IntAttr3", "IntAttr4", "StrAttr3", "StrAttr4"},
        {"CustomContent", "InstanceName", "IntAttr", "IntAttr2", "PicName", "ProductId"}
        | {"StrAttr", "StrAttr2"},
    ),
    "CheckImageExists": (set(), {"InstanceName", "PicName", "ProductId"}),
    "CompareSimilarByImage": (set(), {"InstanceName", "PrimaryPicContent", "SecondaryPicContent"}),
}
V2_OWN = {"Action", "Format", "Version", "Timestamp", "SignatureNonce", "SignatureMethod"} | {
    "SignatureVersion",
    "AccessKeyId",
    "Signature",
}


@pytest.mark.parametrize("operation", list(SAME_CALLS))
def test_each_parameter_travels_where_the_spec_puts_it(
    client: AliyunClient, fake: FakeAliyun, signature: str, operation: str
) -> None:
    stored(fake)
    SAME_CALLS[operation][1](client)
    sent = fake.calls[-1]
    action = operation.split(" ")[0]
    in_query, in_body = PLACEMENT[operation]
    assert urlsplit(sent.url).path == "/"
    assert (sent.headers["x-acs-action"], sent.headers["x-acs-version"]) == (action, "2020-12-14")
    if signature == "v2":
        assert set(sent.query) == in_query | V2_OWN
        assert (sent.query["Action"], sent.query["Version"]) == (action, "2020-12-14")
    else:
        assert set(sent.query) == in_query  # no Action or Version: the headers name them
        assert sent.headers["x-acs-content-sha256"] == (hashlib.sha256(sent.body).hexdigest())
    assert set(sent.form) == in_body
    assert list(sent.form) == sorted(sent.form)
    if in_body:
        assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    else:
        assert sent.body == b"" and "content-type" not in sent.headers


def test_values_are_written_as_the_sdk_writes_them(client: AliyunClient, fake: FakeAliyun) -> None:
    client.add_image("demo", product_id="p", pic_name="a", image=JPEG, crop=False, attributes=ATTRS)
    form = fake.calls[-1].form
    assert (form["Crop"], form["IntAttr4"], form["IntAttr2"]) == ("False", "2147483647", "-8")
    assert (form["StrAttr2"], form["StrAttr4"], form["PicContent"]) == ("x y", "中文", b64(JPEG))
    assert b"StrAttr2=x+y" in fake.calls[-1].body  # urlencode, as the SDK's form body
    client.search_image_by_pic("demo", image=JPEG, score_threshold=0.0)
    assert fake.calls[-1].query["ScoreThreshold"] == "0"
    assert "DistinctProductId" not in fake.calls[-1].form  # false is the default; not sent
    client.search_image_by_pic("demo", image=JPEG, score_threshold=1, distinct_product_id=True)
    assert fake.calls[-1].query["ScoreThreshold"] == "1"
    assert fake.calls[-1].form["DistinctProductId"] == "True"


def test_absent_attributes_are_not_sent(client: AliyunClient, fake: FakeAliyun) -> None:
    stored(fake)
    client.update_image(
        "demo", product_id="shoe", pic_name="main", attributes=Attributes((None, 5, None, None))
    )
    sent = fake.calls[-1]
    assert sent.query == {} or set(sent.query) <= V2_OWN
    assert sent.form == {
        "InstanceName": "demo",
        "IntAttr2": "5",
        "PicName": "main",
        "ProductId": "shoe",
    }
    picture = fake.instances["demo"].pictures[("shoe", "main")]
    assert (picture.int_attrs, picture.str_attrs[0]) == ([7, 5, None, None], "red")


# -- answers ---------------------------------------------------------------------------------


def test_detail_reads_the_instance(client: AliyunClient, fake: FakeAliyun) -> None:
    fake.instances["demo"] = FakeInstance(service_type=0, capacity=25_000, qps=5)
    stored(fake)
    assert client.detail("demo") == Instance(
        name="demo",
        service_type=0,
        capacity=30_000,  # three units of 10,000 on the wire
        qps=5,
        total_count=1,
        region="cn-shanghai",
        created_ms=1_700_000_000_000,
        expires_ms=1_900_000_000_000,
    )


def test_detail_of_an_instance_that_never_expires(client: AliyunClient, fake: FakeAliyun) -> None:
    fake.fail(
        "Detail",
        (
            200,
            {
                "RequestId": "R",
                "Success": True,
                "Instance": {
                    "Capacity": 1,
                    "Name": "demo",
                    "Qps": 10,
                    "Region": "cn-shanghai",
                    "ServiceType": 1,
                    "TotalCount": "12",
                    "UtcCreate": 1,
                    "UtcExpireTime": None,
                },
            },
            {},
        ),
    )
    instance = client.detail("demo")
    assert (instance.capacity, instance.total_count, instance.expires_ms) == (10_000, 12, None)


def test_add_image_answers_the_picture_info(client: AliyunClient, fake: FakeAliyun) -> None:
    info = client.add_image(
        "demo", product_id="shoe", pic_name="main", image=JPEG, region=(1, 20, 3, 40)
    )
    assert info == PicInfo(
        category_id=88888888, region=(1, 20, 3, 40), multi_region=[(1, 20, 3, 40)]
    )
    assert ("shoe", "main") in fake.instances["demo"].pictures


def test_search_image_by_pic_reads_auctions_head_and_pic_info(
    client: AliyunClient, fake: FakeAliyun
) -> None:
    stored(fake, int_attrs=[7, None, 3, None], str_attrs=["red", "", "", "big"])
    stored(fake, "bag", "side", custom_content="", int_attrs=[None] * 4, str_attrs=[""] * 4)
    fake.instances["demo"].pictures[("bag", "side")].sha256 = "other"
    result = client.search_image_by_pic("demo", image=JPEG, num=1)
    assert result == SearchResult(
        auctions=[
            Auction(
                product_id="shoe",
                pic_name="main",
                category_id=88888888,
                score=1.0,
                attributes=Attributes((7, None, 3, None), ("red", "", "", "big"), "k:v"),
            )
        ],
        docs_return=2,
        pic_info=PicInfo(88888888, (0, 100, 0, 100), [(0, 100, 0, 100)]),
    )
    second = client.search_image_by_pic("demo", image=JPEG, start=1, num=1).auctions
    assert second == [Auction("bag", "side", 88888888, 0.31, Attributes())]


def test_search_image_by_name_and_by_filter(client: AliyunClient, fake: FakeAliyun) -> None:
    stored(fake)
    found = client.search_image_by_name("demo", product_id="shoe", pic_name="main")
    assert [(a.product_id, a.score) for a in found.auctions] == [("shoe", 1.0)]
    assert found.pic_info is not None
    matching = client.search_image_by_filter("demo", filter='str_attr = "red"')
    assert [(a.pic_name, a.score, a.attributes.int_attrs[0]) for a in matching] == [
        ("main", None, 7)
    ]
    assert client.search_image_by_filter("demo", filter='str_attr = "blue"') == []


def test_a_search_answer_without_pic_info_has_none(client: AliyunClient, fake: FakeAliyun) -> None:
    fake.fail(
        "SearchImageByName",
        (
            200,
            {
                "RequestId": "R",
                "Success": True,
                "Code": 0,
                "Head": {"DocsReturn": 0},
                "Auctions": [],
            },
            {},
        ),
    )
    assert client.search_image_by_name("demo", product_id="p", pic_name="a") == SearchResult(
        [], 0, None
    )


def test_check_image_exists_reads_one_auction_object(
    client: AliyunClient, fake: FakeAliyun
) -> None:
    stored(fake)
    found = client.check_image_exists("demo", product_id="shoe", pic_name="main")
    assert found == Auction(
        "shoe",
        "main",
        88888888,
        None,
        Attributes((7, None, None, None), ("red", "", "", ""), "k:v"),
    )
    assert client.check_image_exists("demo", product_id="shoe", pic_name="other") is None


def test_delete_answers_the_names_deleted(client: AliyunClient, fake: FakeAliyun) -> None:
    stored(fake, pic="main")
    stored(fake, pic="side", str_attrs=["blue", "", "", ""])
    stored(fake, "bag", "one")
    assert client.delete_image("demo", product_id="shoe", pic_name="side") == ["side"]
    assert client.delete_image("demo", product_id="nothing") == []
    assert client.delete_image("demo", filter='str_attr = "red"') == ["main", "one"]
    assert fake.calls[-1].form["IsDeleteByFilter"] == "True"
    assert fake.instances["demo"].pictures == {}


def test_compare_answers_the_score(client: AliyunClient) -> None:
    assert client.compare_similar_by_image("demo", primary=JPEG, secondary=JPEG) == 1.0
    assert client.compare_similar_by_image("demo", primary=JPEG, secondary=OTHER) == 0.31


OK = {"RequestId": "R", "Success": True, "Code": 0, "Msg": "success"}


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("SearchImageByPic", OK | {"Head": {"DocsReturn": 1}, "Auctions": {"ProductId": "p"}}),
        ("SearchImageByPic", OK | {"Auctions": []}),
        (
            "SearchImageByPic",
            OK | {"Head": {"DocsReturn": 1}, "Auctions": [{"ProductId": "p", "PicName": "a"}]},
        ),
        (
            "SearchImageByPic",
            OK | {"Head": {"DocsReturn": 0}, "Auctions": [], "PicInfo": {"Region": "1,2,3"}},
        ),
        (
            "CheckImageExists",
            OK | {"Exists": True, "Auctions": [{"ProductId": "p", "PicName": "a"}]},
        ),
        ("CheckImageExists", OK | {"Exists": "yes"}),
        ("DeleteImage", OK | {"Data": {"PicNames": "a"}}),
        ("Detail", {"RequestId": "R", "Success": True, "Instance": {"Name": "demo"}}),
        ("CompareSimilarByImage", OK | {"Score": "high"}),
        ("AddImage", OK | {"PicInfo": []}),
    ],
)
def test_an_answer_not_shaped_as_the_wire_says_is_a_retryable_bad_response(
    client: AliyunClient, fake: FakeAliyun, action: str, body: dict[str, Any]
) -> None:
    fake.fail(action, (200, body, {}))
    calls = {
        "SearchImageByPic": lambda: client.search_image_by_pic("demo", image=JPEG),
        "CheckImageExists": lambda: client.check_image_exists("demo", product_id="p", pic_name="a"),
        "DeleteImage": lambda: client.delete_image("demo", product_id="p"),
        "Detail": lambda: client.detail("demo"),
        "CompareSimilarByImage": lambda: client.compare_similar_by_image(
            "demo", primary=JPEG, secondary=JPEG
        ),
        "AddImage": lambda: client.add_image("demo", product_id="p", pic_name="a", image=JPEG),
    }
    with pytest.raises(AliyunError) as info:
        calls[action]()
    assert (info.value.error_code, info.value.retryable) == ("bad_response", True)
    assert info.value.error_msg == f"{action}: the answer is not shaped as the wire says"


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "retryable"),
    [
        ("BadRequest", False),
        ("InvalidInstance", False),
        ("UnsupportedPicFormat", False),
        ("InstanceOverQuota", False),
        ("NoPermission", False),
        ("UnknownException", True),
        ("NetworkException", True),
        ("AccessEngineFailed", True),
        ("InternalOssError", True),
        ("InternalSwiftError", True),
        ("InternalTableStoreError", True),
        ("UnsupportedOperationType", False),
        ("UnsupportedInstanceType", False),
    ],
)
def test_error_answers_carry_the_code_message_and_request_id(
    client: AliyunClient, fake: FakeAliyun, code: str, retryable: bool
) -> None:
    fake.fail("AddImage", code)
    with pytest.raises(AliyunError) as info:
        client.add_image("demo", product_id="p", pic_name="a", image=JPEG)
    error = info.value
    assert (error.error_code, error.retryable, error.log_id) == (code, retryable, "FAKE-0001")
    assert error.error_msg == ERRORS[code][1]
    assert str(error) == f"{code} {ERRORS[code][1]} (log_id FAKE-0001)"
    assert len(fake.calls) == 1  # answered at once: the console's tasks retry, not the client


def test_the_real_engine_refuses_a_bad_signature(
    make: Callable[..., AliyunClient], signature: str
) -> None:
    client = make(credentials=Credentials(CREDS.access_key_id, "wrong"), signature=signature)
    with pytest.raises(AliyunError) as info:
        client.detail("demo")
    assert (info.value.error_code, info.value.retryable) == ("NoPermission", False)


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [(503, "ServiceUnavailable", True), (500, "InternalError", True), (400, "Something", False)],
)
def test_codes_outside_the_table_are_retryable_only_on_a_5xx(
    client: AliyunClient, fake: FakeAliyun, status: int, code: str, retryable: bool
) -> None:
    fake.fail("Detail", (status, {"RequestId": "R", "Code": code, "Message": "m"}, {}))
    with pytest.raises(AliyunError) as info:
        client.detail("demo")
    assert (info.value.error_code, info.value.retryable, info.value.log_id) == (
        code,
        retryable,
        "R",
    )


@pytest.mark.parametrize(
    ("body", "code", "msg"),
    [
        (
            {"RequestId": "R", "Success": False, "Code": "InvalidInstance", "Msg": "m"},
            "InvalidInstance",
            "m",
        ),
        ({"RequestId": "R", "Success": True, "Code": 1102, "Message": "x"}, "1102", "x"),
        ({"RequestId": "R", "Success": False}, "bad_response", "Success is false"),
    ],
)
def test_an_http_200_that_says_it_failed_is_an_error(
    client: AliyunClient, fake: FakeAliyun, body: dict[str, Any], code: str, msg: str
) -> None:
    fake.fail("SearchImageByPic", (200, body, {}))  # the SDK would not raise (spec §3)
    with pytest.raises(AliyunError) as info:
        client.search_image_by_pic("demo", image=JPEG)
    assert (info.value.error_code, info.value.error_msg, info.value.log_id) == (code, msg, "R")


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (502, b"<html>Bad Gateway</html>"),
        (200, b""),
        (200, b"[1, 2]"),
        (200, b"\xff\xfe{"),
        (403, b'{"Message": "no code"}'),
    ],
)
def test_a_body_that_is_not_the_wires_json_is_a_retryable_bad_response(
    client: AliyunClient, fake: FakeAliyun, status: int, body: bytes
) -> None:
    fake.fail("Detail", (status, body, {}))
    with pytest.raises(AliyunError) as info:
        client.detail("demo")
    assert (info.value.error_code, info.value.retryable) == ("bad_response", True)
    assert info.value.error_msg.startswith(f"HTTP {status}: ")


LEAKY = "HTTPSConnectionPool(host='imagesearch.cn-shanghai.aliyuncs.com', port=443): Max retries"


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
def test_transport_failures_become_aliyun_errors_without_the_secret(
    client: AliyunClient, fake: FakeAliyun, exc: Exception, code: str, retryable: bool
) -> None:
    fake.fail("AddImage", exc)
    with pytest.raises(AliyunError) as info:
        client.add_image("demo", product_id="p", pic_name="a", image=JPEG)
    error = info.value
    assert (error.error_code, error.retryable) == (code, retryable)
    # In words, for the page that shows it: never the raw exception with its URL.
    assert "Max retries" not in error.error_msg and error.error_msg.endswith(".")
    for text in (str(error), repr(error), error.error_msg):
        assert SECRET not in text
    assert error.__cause__ is None
    assert error.__suppress_context__


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_never_followed(client: AliyunClient, fake: FakeAliyun, status: int) -> None:
    fake.fail("Detail", (status, b"", {"Location": "http://169.254.169.254/latest/meta-data/"}))
    with pytest.raises(AliyunError) as info:
        client.detail("demo")
    assert (info.value.error_code, info.value.retryable) == ("redirect", False)
    assert info.value.error_msg == f"HTTP {status}: the endpoint redirected the call; not followed"
    assert len(fake.calls) == 1


def test_aliyun_error_survives_pickling() -> None:
    error = AliyunError("DeniedRequest", "Your request was denied.", log_id="R-1")
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 (our own bytes)
    assert (copy.error_code, copy.error_msg, copy.retryable, copy.log_id) == (
        "DeniedRequest",
        "Your request was denied.",
        True,
        "R-1",
    )


# -- flow control ----------------------------------------------------------------------------


def test_denied_request_backs_off_doubling_then_succeeds(
    client: AliyunClient, fake: FakeAliyun, sleeps: list[float], limiter: RecordingLimiter
) -> None:
    fake.fail("AddImage", *["DeniedRequest"] * 4)
    client.add_image("demo", product_id="p", pic_name="a", image=JPEG)
    assert sleeps == [1.0, 2.0, 4.0, 8.0]
    assert len(fake.calls) == 5
    assert limiter.calls == [(f"{CREDS.access_key_id}/demo", 0)] * 5  # a slot before each try


def test_denied_request_gives_up_after_five_tries_retryable(
    client: AliyunClient, fake: FakeAliyun, sleeps: list[float]
) -> None:
    fake.fail("Detail", *["DeniedRequest"] * 6)
    with pytest.raises(AliyunError) as info:
        client.detail("demo")
    error = info.value
    assert (error.error_code, error.retryable, error.log_id) == ("DeniedRequest", True, "FAKE-0005")
    assert type(error) is AliyunError
    assert sleeps == [1.0, 2.0, 4.0, 8.0]
    assert len(fake.calls) == 5


def test_an_error_with_retry_after_is_throttling_too(
    client: AliyunClient, fake: FakeAliyun, sleeps: list[float]
) -> None:
    throttled = (
        400,
        {"RequestId": "R", "Code": "Throttling.User", "Message": "m"},
        {"x-acs-retry-after": "300"},
    )
    fake.fail("Detail", throttled)
    assert client.detail("demo").name == "demo"
    assert sleeps == [1.0]


def test_limiter_key_and_qps_are_per_instance(
    make: Callable[..., AliyunClient], limiter: RecordingLimiter
) -> None:
    client = make(qps=5, limiter_key="tuku-app-7")
    client.detail("demo")
    client.delete_image("demo", product_id="p")
    with pytest.raises(AliyunError):
        client.detail("other")
    assert limiter.calls == [("tuku-app-7/demo", 5)] * 2 + [("tuku-app-7/other", 5)]


def test_timeouts_are_passed_on_every_request(
    make: Callable[..., AliyunClient], fake: FakeAliyun, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Any] = []
    send = fake.send

    def timed(request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        seen.append(kwargs["timeout"])
        return send(request)

    monkeypatch.setattr(fake, "send", timed)
    make().detail("demo")
    make(timeout=(1.5, 7.0)).detail("demo")
    assert seen == [(5.0, 30.0), (1.5, 7.0)]


# -- client-side checks: nothing goes out that the server would refuse ------------------------

BIG = b"x" * (4 * 1024 * 1024 + 1)


def _add(**kwargs: Any) -> Callable[[AliyunClient], Any]:
    instance = kwargs.pop("instance", "demo")
    options = {"product_id": "p", "pic_name": "a", "image": JPEG} | kwargs
    return lambda c: c.add_image(instance, **options)


def _search(**kwargs: Any) -> Callable[[AliyunClient], Any]:
    return lambda c: c.search_image_by_pic("demo", **({"image": JPEG} | kwargs))


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (_add(instance=""), "BadRequest"),
        (_add(instance="x" * 21), "InvalidInstance"),
        (_add(product_id=""), "BadRequest"),
        (_add(product_id="p" * 257), "BadRequest"),
        (_add(pic_name="n" * 257), "BadRequest"),
        (_add(image=b""), "BadRequest"),
        (_add(image=BIG), "BadRequest"),
        (_add(category_id=99), "InvalidCategory"),
        (_add(region=(5, 1, 0, 9)), "BadRequest"),
        (_add(region=(0, 10, 9, 9)), "BadRequest"),
        (_add(region=(-1, 10, 0, 9)), "BadRequest"),
        (_add(attributes=Attributes(int_attrs=(2**31, None, None, None))), "BadRequest"),
        (_add(attributes=Attributes(int_attrs=(None, None, None, -(2**31) - 1))), "BadRequest"),
        (_add(attributes=Attributes(str_attrs=("a$b", "", "", ""))), "BadRequest"),
        (_add(attributes=Attributes(str_attrs=("", "", "", "¥"))), "BadRequest"),
        (_add(attributes=Attributes(str_attrs=("", "s" * 129, "", ""))), "BadRequest"),
        (_add(attributes=Attributes(custom_content="c" * 4097)), "BadRequest"),
        (_search(num=0), "InvalidNumParameter"),
        (_search(num=101), "OverflowMaxReturnNum"),
        (_search(start=-1), "BadRequest"),
        (_search(start=500, num=1), "BadRequest"),
        (_search(start=480, num=30), "OverflowMaxResultNum"),
        (_search(score_threshold=1.5), "BadRequest"),
        (_search(score_threshold=0.555), "BadRequest"),
        (_search(filter="f" * 4097), "InvalidFilterClause"),
        (lambda c: c.search_image_by_filter("demo", filter=""), "BadRequest"),
        (
            lambda c: c.search_image_by_filter("demo", filter="int_attr = 1", num=101),
            "OverflowMaxReturnNum",
        ),
        (lambda c: c.delete_image("demo"), "BadRequest"),
        (lambda c: c.delete_image("demo", filter=""), "BadRequest"),
        (lambda c: c.delete_image("demo", pic_name="a"), "BadRequest"),
        (lambda c: c.check_image_exists("demo", product_id="p", pic_name=""), "BadRequest"),
        (lambda c: c.compare_similar_by_image("demo", primary=JPEG, secondary=BIG), "BadRequest"),
        (
            lambda c: c.search_image_by_name("demo", product_id="p", pic_name="a", num=0),
            "InvalidNumParameter",
        ),
        (
            lambda c: c.update_image(
                "demo",
                product_id="p",
                pic_name="a",
                attributes=Attributes(str_attrs=("%", "", "", "")),
            ),
            "BadRequest",
        ),
    ],
)
def test_values_the_server_would_refuse_fail_before_sending_with_its_code(
    client: AliyunClient, fake: FakeAliyun, call: Callable[[AliyunClient], Any], code: str
) -> None:
    with pytest.raises(AliyunError) as info:
        call(client)
    assert (info.value.error_code, info.value.error_msg) == (code, ERRORS[code][1])
    assert info.value.retryable is False
    assert fake.calls == []


def test_limits_are_inclusive(client: AliyunClient, fake: FakeAliyun) -> None:
    fake.instances["i" * 20] = FakeInstance()
    client.add_image(
        "i" * 20,
        product_id="p" * 256,
        pic_name="n" * 256,
        image=b"x" * (4 * 1024 * 1024),
        region=(0, 99_999, 0, 1),
        attributes=Attributes((2**31 - 1, -(2**31), 0, None), ("s" * 128, "", "", ""), "c" * 4096),
    )
    client.search_image_by_pic("demo", image=JPEG, start=400, num=100, score_threshold=0.01)
    client.search_image_by_pic("demo", image=JPEG, start=499, num=1, category_id=88888888)
    assert len(fake.calls) == 3


def test_deleting_by_filter_and_by_name_at_once_is_a_programming_error(
    client: AliyunClient,
) -> None:
    with pytest.raises(ValueError):
        client.delete_image("demo", product_id="p", filter="int_attr = 1")


# -- records, logs, secrets, configuration ---------------------------------------------------


def test_on_call_records_every_exchange(
    make: Callable[..., AliyunClient], fake: FakeAliyun
) -> None:
    records: list[CallRecord] = []
    ticks = iter(range(100))  # a second per reading of the clock
    client = make(on_call=records.append, clock=lambda: float(next(ticks)))
    fake.fail("AddImage", "DeniedRequest")
    fake.fail("Detail", requests.exceptions.ReadTimeout("slow"))
    client.add_image("demo", product_id="p", pic_name="a", image=JPEG)
    fake.fail("AddImage", "InstanceOverQuota")
    with pytest.raises(AliyunError):
        client.add_image("demo", product_id="p", pic_name="b", image=JPEG)
    with pytest.raises(AliyunError):
        client.detail("demo")
    with pytest.raises(AliyunError):
        client.detail("")  # refused before any exchange: no record
    assert records == [
        # Flow control backed off from: retried, and the success that followed knows it.
        CallRecord(
            "AddImage",
            "DeniedRequest",
            ERRORS["DeniedRequest"][1],
            1000.0,
            "FAKE-0001",
            "demo",
            retried=True,
        ),
        CallRecord("AddImage", None, "", 1000.0, "FAKE-0002", "demo", qps_retries=1),
        CallRecord(
            "AddImage",
            "InstanceOverQuota",
            ERRORS["InstanceOverQuota"][1],
            1000.0,
            "FAKE-0003",
            "demo",
        ),
        CallRecord("Detail", "timeout", "No answer in time.", 1000.0, None, "demo"),
    ]


def test_the_secret_stays_out_of_requests_reprs_and_logs(
    client: AliyunClient, fake: FakeAliyun, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    stored(fake)
    client.search_image_by_name("demo", product_id="shoe", pic_name="main")
    fake.fail("Detail", "NoPermission")
    with pytest.raises(AliyunError) as info:
        client.detail("demo")
    sent = fake.calls[-2]
    wire_text = sent.url + repr(sent.headers) + sent.body.decode()
    texts = [wire_text, repr(CREDS), str(CREDS), repr(client), str(info.value), caplog.text]
    for text in texts:
        assert SECRET not in text
    assert repr(CREDS) == f"Credentials(access_key_id={CREDS.access_key_id!r})"
    assert "aliyun demo SearchImageByName code=None" in caplog.text
    assert "aliyun demo Detail code=NoPermission" in caplog.text


@pytest.mark.parametrize(
    "kwargs",
    [
        {"endpoint": "imagesearch.cn-shanghai.aliyuncs.com"},
        {"endpoint": "ftp://x"},
        {"endpoint": "https://host/path"},
        {"endpoint": "https://host/?a=b"},
        {"endpoint": "https://user:pw@host"},
        {"signature": "v3"},
        {"qps": -1},
        {"region_id": ""},
        {"credentials": Credentials("", "s")},
    ],
)
def test_bad_configuration_fails_at_construction(
    make: Callable[..., AliyunClient], kwargs: dict[str, Any]
) -> None:
    with pytest.raises(ValueError):
        make(**kwargs)


def test_the_endpoint_may_carry_a_port_and_a_slash(
    make: Callable[..., AliyunClient], fake: FakeAliyun
) -> None:
    make(endpoint="http://127.0.0.1:8000/").detail("demo")
    assert fake.calls[-1].url.startswith("http://127.0.0.1:8000/?")
    assert fake.calls[-1].headers["host"] == "127.0.0.1:8000"  # signed with its port


# -- filter_clause ---------------------------------------------------------------------------


def test_filter_clause_joins_and_quotes() -> None:
    conditions = [Condition("int_attr", ">=", 3), Condition("str_attr", "!=", "red car")]
    assert filter_clause(conditions) == 'int_attr >= 3 AND str_attr != "red car"'
    assert filter_clause(conditions, any_of=True) == 'int_attr >= 3 OR str_attr != "red car"'
    assert filter_clause([Condition("int_attr", "=", -(2**31))]) == "int_attr = -2147483648"
    assert filter_clause([Condition("str_attr", "=", "")]) == 'str_attr = ""'


@pytest.mark.parametrize(
    ("conditions", "message"),
    [
        ([], "Give at least one condition."),
        ([Condition("int_attr2", "=", 1)], "Filter on int_attr or str_attr, not 'int_attr2'."),
        ([Condition("int_attr", "!=", 1)], "int_attr takes one of > >= < <= =."),
        ([Condition("str_attr", ">", "a")], "str_attr takes one of = !=."),
        (
            [Condition("int_attr", "=", 2**31)],
            "A number here is a whole number from -2147483648 to 2147483647.",
        ),
        (
            [Condition("int_attr", "=", True)],
            "A number here is a whole number from -2147483648 to 2147483647.",
        ),
        (
            [Condition("int_attr", "=", "3")],
            "A number here is a whole number from -2147483648 to 2147483647.",
        ),
        ([Condition("str_attr", "=", 3)], "A text condition compares with a text."),
        (
            [Condition("str_attr", "=", 'say "hi"')],
            'A text here may not contain " or any of \\ ¥ $ & %.',
        ),
        (
            [Condition("str_attr", "=", "50%")],
            'A text here may not contain " or any of \\ ¥ $ & %.',
        ),
        (
            [Condition("str_attr", "=", "a\\b")],
            'A text here may not contain " or any of \\ ¥ $ & %.',
        ),
        ([Condition("str_attr", "=", "s" * 129)], "A text here is at most 128 characters."),
        (
            [Condition("str_attr", "=", "s" * 128)] * 32,
            "The conditions together are over 4096 characters.",
        ),
    ],
)
def test_filter_clause_refuses_what_cannot_be_stated(
    conditions: list[Condition], message: str
) -> None:
    with pytest.raises(ValueError) as info:
        filter_clause(conditions)
    assert str(info.value) == message


def test_every_clause_built_parses_in_the_engine() -> None:
    from engine.aliyun.filters import parse

    for op in (">", ">=", "<", "<=", "="):
        parse(filter_clause([Condition("int_attr", op, 2**31 - 1)]))
    for op in ("=", "!="):
        parse(
            filter_clause(
                [Condition("str_attr", op, "x y ~ 中文 ()"), Condition("str_attr", op, "s" * 128)],
                any_of=True,
            )
        )


def test_dataclass_defaults_are_empty() -> None:
    assert dataclasses.asdict(Attributes()) == {
        "int_attrs": (None, None, None, None),
        "str_attrs": ("", "", "", ""),
        "custom_content": "",
    }
