"""Tuku's own Alibaba client (`searchapi.aliyun`) against a live engine over HTTP, with both
signatures: every operation the engine serves, and its errors as the client reports them."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from typing import Any, Literal

import pytest
from PIL import Image

from searchapi.aliyun import (
    AliyunClient,
    AliyunError,
    Attributes,
    CallRecord,
    Condition,
    Credentials,
    filter_clause,
)
from searchapi.throttle import MemoryRateLimiter

from .conftest import Engine

pytestmark = pytest.mark.conformance

UUID = re.compile(r"[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}\Z")


@pytest.fixture(scope="module")
def account(engine: Engine) -> Credentials:
    out = engine.manage("engine_aliyun", "create-key", "--name", "client-conformance")
    values = dict(re.findall(r"^AccessKey (ID|Secret):\s+(\S+)$", out, re.M))
    for name, service_type, extra in (
        ("generic", "1", ()),
        ("product", "0", ()),
        ("slow", "1", ("--qps", "1")),
    ):
        engine.manage(
            "engine_aliyun",
            "create-instance",
            "--access-key-id",
            values["ID"],
            "--name",
            name,
            "--service-type",
            service_type,
            *extra,
        )
    return Credentials(values["ID"], values["Secret"])


@pytest.fixture(autouse=True)
def proxy_everywhere_but_here(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A proxy that refuses every connection, and NO_PROXY for the engine: unlike the SDK
    (aliyun-wire §7), the client goes straight to 127.0.0.1 and never sees it."""
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    yield


def make(
    engine: Engine, creds: Credentials, signature: Literal["acs3", "v2"], **kwargs: Any
) -> AliyunClient:
    options: dict[str, Any] = {
        # Below the instances' 10 QPS tier, so that flow control never refuses these calls.
        "qps": 8,
        "limiter": MemoryRateLimiter(),
        "timeout": (5.0, 60.0),
    }
    return AliyunClient(
        endpoint=engine.base,
        credentials=creds,
        region_id="cn-shanghai",
        signature=signature,
        **(options | kwargs),
    )


@pytest.fixture(params=["acs3", "v2"])
def client(request: pytest.FixtureRequest, engine: Engine, account: Credentials) -> AliyunClient:
    return make(engine, account, request.param)


def tiny_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (50, 50), (1, 2, 3)).save(out, "PNG")  # under every type's 100 px
    return out.getvalue()


def refused(code: str, call: Any) -> AliyunError:
    with pytest.raises(AliyunError) as raised:
        call()
    error = raised.value
    assert error.error_code == code, error
    assert isinstance(error.log_id, str) and UUID.match(error.log_id)
    return error


def test_detail(client: AliyunClient) -> None:
    instance = client.detail("generic")
    assert (instance.name, instance.service_type, instance.qps) == ("generic", 1, 10)
    assert (instance.capacity, instance.region, instance.expires_ms) == (
        10_000,
        "cn-shanghai",
        None,
    )
    assert isinstance(instance.total_count, int) and isinstance(instance.created_ms, int)
    assert instance.created_ms > 1_600_000_000_000
    error = refused("InvalidInstance", lambda: client.detail("none"))
    assert (error.retryable, error.error_msg) == (False, "The specified instance name is invalid.")


@pytest.mark.parametrize("signature", ["acs3", "v2"])
def test_a_wrong_secret_is_no_permission(
    engine: Engine, account: Credentials, signature: Literal["acs3", "v2"]
) -> None:
    wrong = make(engine, Credentials(account.access_key_id, "wrong"), signature)
    error = refused("NoPermission", lambda: wrong.detail("generic"))
    assert error.retryable is False


def test_add_search_delete(client: AliyunClient, photos: list[bytes]) -> None:
    product = f"shoe-{id(client)}"
    attributes = Attributes((7, None, 3, None), ("red", "", "", "big"), "k:v")
    info = client.add_image(
        "generic", product_id=product, pic_name="main", image=photos[0], attributes=attributes
    )
    assert info.category_id == 88888888 and info.region is not None and info.multi_region
    client.add_image("generic", product_id=product, pic_name="side", image=photos[1])
    replaced = Attributes((8, None, None, None), ("red", "", "", ""))
    client.add_image(
        "generic", product_id=product, pic_name="main", image=photos[2], attributes=replaced
    )

    found = client.search_image_by_pic("generic", image=photos[2], num=5)
    first = found.auctions[0]
    assert (first.product_id, first.pic_name, first.score) == (product, "main", 1.0)
    assert first.attributes == Attributes((8, None, None, None), ("red", "", "", ""), "")
    assert found.docs_return >= len(found.auctions) >= 2
    assert found.pic_info is not None and found.pic_info.multi_region
    names = {(a.product_id, a.pic_name) for a in found.auctions}
    assert (product, "side") in names

    boxed = client.search_image_by_pic(
        "generic", image=photos[2], region=(0, 200, 0, 200), score_threshold=0.5
    )
    assert boxed.pic_info is not None and boxed.pic_info.region == (0, 200, 0, 200)
    assert all(a.score is not None and a.score >= 0.5 for a in boxed.auctions)
    whole = client.search_image_by_pic("generic", image=photos[2], crop=False, num=1)
    assert whole.auctions[0].pic_name == "main"
    distinct = client.search_image_by_pic(
        "generic", image=photos[2], distinct_product_id=True, num=100
    )
    assert [a.product_id for a in distinct.auctions].count(product) == 1

    assert client.delete_image("generic", product_id=product, pic_name="side") == ["side"]
    assert client.delete_image("generic", product_id=product, pic_name="side") == []
    assert client.delete_image("generic", product_id=product) == ["main"]
    after = client.search_image_by_pic("generic", image=photos[2])
    assert all(a.product_id != product for a in after.auctions)


def test_filters_built_by_filter_clause(client: AliyunClient, photos: list[bytes]) -> None:
    tag = f"f{id(client)}"
    for n in range(4):
        client.add_image(
            "generic",
            product_id=f"{tag}-{n}",
            pic_name="a",
            image=photos[6 + n],
            attributes=Attributes((n, None, None, None), (tag, "", "", "")),
        )
    mine = Condition("str_attr", "=", tag)
    clause = filter_clause([mine, Condition("int_attr", ">=", 2)])
    found = client.search_image_by_pic("generic", image=photos[6], filter=clause, num=100)
    assert sorted(a.product_id for a in found.auctions) == [f"{tag}-2", f"{tag}-3"]
    either = filter_clause(
        [Condition("int_attr", "=", 0), Condition("int_attr", "=", 3)], any_of=True
    )
    found = client.search_image_by_pic(
        "generic", image=photos[6], filter=f"{filter_clause([mine])} AND ({either})", num=100
    )
    assert sorted(a.product_id for a in found.auctions) == [f"{tag}-0", f"{tag}-3"]
    deleted = client.delete_image("generic", filter=filter_clause([mine]))
    assert deleted == ["a"] * 4
    assert client.search_image_by_pic("generic", image=photos[6], filter=clause).auctions == []


def test_product_category(client: AliyunClient, photos: list[bytes]) -> None:
    product = f"bag-{id(client)}"
    info = client.add_image(
        "product", product_id=product, pic_name="a", image=photos[3], category_id=3
    )
    assert info.category_id == 3
    found = client.search_image_by_pic("product", image=photos[3], category_id=3)
    assert found.pic_info is not None and found.pic_info.category_id == 3
    assert (found.auctions[0].product_id, found.auctions[0].category_id) == (product, 3)
    assert all(a.category_id == 3 for a in found.auctions)
    assert client.search_image_by_pic("product", image=photos[3], category_id=4).auctions == []
    client.delete_image("product", product_id=product)


def test_errors_the_engine_answers(client: AliyunClient, photos: list[bytes]) -> None:
    for code, call in (
        ("UnsupportedPicFormat", lambda: client.search_image_by_pic("generic", image=b"GIF89 x")),
        ("UnsupportedPicPixels", lambda: client.search_image_by_pic("generic", image=tiny_png())),
        (
            "InvalidFilterClause",
            lambda: client.search_image_by_pic("generic", image=photos[0], filter='str_attr="a'),
        ),
        (
            "InvalidIntAttr",
            lambda: client.search_image_by_pic("generic", image=photos[0], filter="int_attr > x"),
        ),
    ):
        error = refused(code, call)
        assert error.retryable is False


def test_flow_control_is_backed_off_and_retried(
    engine: Engine, account: Credentials, photos: list[bytes]
) -> None:
    records: list[CallRecord] = []
    client = make(engine, account, "acs3", qps=0, on_call=records.append)
    time.sleep(1.1)  # a window of its own on the 1 QPS instance
    client.detail("slow")
    assert client.detail("slow").qps == 1  # refused once, then let through after a pause
    assert [r.error_code for r in records] == [None, "DeniedRequest", None]
    assert all(r.request_id and UUID.match(r.request_id) for r in records)


def test_search_image_by_name(client: AliyunClient, photos: list[bytes]) -> None:
    tag = f"n{id(client)}"
    mine = filter_clause([Condition("str_attr", "=", tag)])
    client.add_image(
        "generic",
        product_id=tag,
        pic_name="main",
        image=photos[10],
        attributes=Attributes((1, None, None, None), (tag, "", "", "")),
    )
    client.add_image(
        "generic",
        product_id=tag,
        pic_name="side",
        image=photos[11],
        attributes=Attributes(str_attrs=(tag, "", "", "")),
    )
    found = client.search_image_by_name("generic", product_id=tag, pic_name="main", num=5)
    first = found.auctions[0]
    assert (first.product_id, first.pic_name, first.score) == (tag, "main", 1.0)
    assert first.attributes.int_attrs[0] == 1
    assert found.pic_info is not None and found.pic_info.region is not None
    both = client.search_image_by_name("generic", product_id=tag, pic_name="main", filter=mine)
    assert [a.pic_name for a in both.auctions] == ["main", "side"]
    one = client.search_image_by_name(
        "generic", product_id=tag, pic_name="main", filter=mine, distinct_product_id=True
    )
    assert [a.pic_name for a in one.auctions] == ["main"]
    page = client.search_image_by_name(
        "generic", product_id=tag, pic_name="main", filter=mine, start=1
    )
    assert [a.pic_name for a in page.auctions] == ["side"]
    refused(
        "BadRequest",
        lambda: client.search_image_by_name("generic", product_id=tag, pic_name="missing"),
    )
    client.delete_image("generic", product_id=tag)


def test_search_image_by_filter(client: AliyunClient, photos: list[bytes]) -> None:
    tag = f"s{id(client)}"
    for n in range(3):
        client.add_image(
            "generic",
            product_id=f"{tag}-{n}",
            pic_name="a",
            image=photos[n],
            attributes=Attributes((n, None, None, None), (tag, "", "", "")),
        )
    mine = filter_clause([Condition("str_attr", "=", tag)])
    found = client.search_image_by_filter("generic", filter=mine)
    assert [a.product_id for a in found] == [f"{tag}-{n}" for n in range(3)]  # oldest first
    assert all(a.score is None for a in found)
    assert found[1].attributes == Attributes((1, None, None, None), (tag, "", "", ""))
    page = client.search_image_by_filter(
        "generic", filter=f"{mine} AND int_attr >= 1", start=1, num=1
    )
    assert [a.product_id for a in page] == [f"{tag}-2"]
    refused(
        "InvalidIntAttr", lambda: client.search_image_by_filter("generic", filter="int_attr = a")
    )
    client.delete_image("generic", filter=mine)


def test_update_image_and_check_image_exists(client: AliyunClient, photos: list[bytes]) -> None:
    tag = f"u{id(client)}"
    client.add_image(
        "generic",
        product_id=tag,
        pic_name="a",
        image=photos[4],
        attributes=Attributes((1, None, 3, None), ("s", "", "", ""), "before"),
    )
    found = client.check_image_exists("generic", product_id=tag, pic_name="a")
    assert found is not None and found.score is None
    assert found.attributes == Attributes((1, None, 3, None), ("s", "", "", ""), "before")
    client.update_image(
        "generic",
        product_id=tag,
        pic_name="a",
        attributes=Attributes((None, 2, None, 4), ("", "", "three", "four"), "after"),
    )
    changed = client.check_image_exists("generic", product_id=tag, pic_name="a")
    assert changed is not None
    assert changed.attributes == Attributes((1, 2, 3, 4), ("s", "", "three", "four"), "after")
    assert client.check_image_exists("generic", product_id=tag, pic_name="b") is None
    refused(
        "BadRequest",
        lambda: client.update_image(
            "generic", product_id=tag, pic_name="b", attributes=Attributes(custom_content="x")
        ),
    )
    client.delete_image("generic", product_id=tag)


def test_compare_similar_by_image(client: AliyunClient, photos: list[bytes]) -> None:
    same = client.compare_similar_by_image("generic", primary=photos[5], secondary=photos[5])
    assert same == 1.0
    other = client.compare_similar_by_image("generic", primary=photos[5], secondary=photos[8])
    assert 0.0 <= other < 1.0
    back = client.compare_similar_by_image("generic", primary=photos[8], secondary=photos[5])
    assert back == pytest.approx(other, abs=1e-4)
    refused(
        "UnsupportedPicFormat",
        lambda: client.compare_similar_by_image(
            "generic", primary=photos[5], secondary=b"not a picture"
        ),
    )
