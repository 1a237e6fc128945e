"""The official, unmodified Alibaba SDK (`alibabacloud-imagesearch20201214`) against a live
engine, with both signatures, every operation served and every error each can produce, as
the SDK shows them (aliyun-wire §7)."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import Engine

pytestmark = pytest.mark.conformance

MESSAGES = {
    "BadRequest": "The request has invalid parameters.",
    "InvalidInstance": "The specified instance name is invalid.",
    "InvalidCategory": "The specified category is invalid.",
    "OverflowMaxResultNum": "The specified number of total results exceeds the maximum of 500.",
    "OverflowMaxReturnNum": (
        "The specified number of results for each request exceeds the maximum of 100."
    ),
    "InvalidNumParameter": "The specified parameter num is invalid.",
    "UnsupportedPicFormat": "The specified image format is invalid.",
    "InstanceOverQuota": "The number of items exceeds the limit.",
    "UnsupportedPicPixels": "The specified pixels is not supported.",
    "NoPermission": "You are not authorized to perform this operation.",
    "DeniedRequest": "Your request was denied due to instance flow control.",
    "UnsupportedOperationType": "The specified action is not supported.",
    "InvalidFilterClause": "The specified filtering condition is invalid.",
    "InvalidIntAttr": "The specified int_attr field is invalid.",
}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def keys(engine: Engine) -> tuple[str, str]:
    out = engine.manage("engine_aliyun", "create-key", "--name", "conformance")
    values = dict(re.findall(r"^AccessKey (ID|Secret):\s+(\S+)$", out, re.M))
    for name, service_type, extra in (
        ("generic", "1", ()),
        ("product", "0", ()),
        ("tiny", "1", ("--capacity", "1")),
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
    return values["ID"], values["Secret"]


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The SDK's HTTP layer uses HTTP_PROXY even for 127.0.0.1 (aliyun-wire §7)."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    yield


def client(engine: Engine, keys: tuple[str, str], algorithm: str, secret: str | None = None) -> Any:
    from alibabacloud_imagesearch20201214.client import Client
    from alibabacloud_tea_openapi import models as open_api_models

    config = open_api_models.Config(
        access_key_id=keys[0],
        access_key_secret=secret or keys[1],
        endpoint=engine.base.removeprefix("http://"),
        protocol="http",
        region_id="cn-shanghai",
        read_timeout=60_000,
    )
    if algorithm == "v2":
        config.signature_algorithm = "v2"
    return Client(config)


class Paced:
    """The SDK client, its calls spaced so that the instances' 10 QPS tier never refuses them;
    flow control has its own instance at 1 QPS."""

    GAP = 0.12

    def __init__(self, sdk: Any) -> None:
        self._sdk = sdk
        self._last = 0.0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._sdk, name)

        def paced(*args: Any) -> Any:
            time.sleep(max(0.0, self._last + self.GAP - time.monotonic()))
            try:
                return method(*args)
            finally:
                self._last = time.monotonic()

        return paced


@pytest.fixture(params=["acs3", "v2"])
def sdk(request: pytest.FixtureRequest, engine: Engine, keys: tuple[str, str]) -> Any:
    return Paced(client(engine, keys, request.param))


def raises(code: str, call: Any) -> Any:
    from alibabacloud_tea_openapi.exceptions import ClientException, ServerException

    with pytest.raises((ClientException, ServerException)) as raised:
        call()
    error = raised.value
    assert error.code == code
    assert error.data["Message"] == MESSAGES[code]
    assert isinstance(error.data["RequestId"], str)
    status = 403 if code in ("NoPermission", "DeniedRequest") else 400
    status = 500 if code == "UnsupportedOperationType" else status
    assert error.status_code == status
    assert isinstance(error, ServerException if status == 500 else ClientException)
    return error


def models() -> Any:
    from alibabacloud_imagesearch20201214 import models as m

    return m


def add(sdk: Any, instance: str, product: str, pic: str, data: bytes, **extra: Any) -> Any:
    m = models()
    request = m.AddImageRequest(
        instance_name=instance, product_id=product, pic_name=pic, pic_content=b64(data), **extra
    )
    return sdk.add_image(request).body


def search(sdk: Any, instance: str, data: bytes, **extra: Any) -> Any:
    m = models()
    request = m.SearchImageByPicRequest(instance_name=instance, pic_content=b64(data), **extra)
    return sdk.search_image_by_pic(request).body


def test_detail(sdk: Any) -> None:
    body = sdk.detail(models().DetailRequest(instance_name="generic")).body
    assert body.success is True and body.request_id
    assert (body.instance.name, body.instance.service_type, body.instance.qps) == ("generic", 1, 10)
    assert body.instance.capacity == 1 and isinstance(body.instance.total_count, int)
    raises("InvalidInstance", lambda: sdk.detail(models().DetailRequest(instance_name="none")))


def test_authentication_errors(engine: Engine, keys: tuple[str, str]) -> None:
    for algorithm in ("acs3", "v2"):
        wrong = client(engine, keys, algorithm, secret="wrong")
        raises(
            "NoPermission",
            lambda c=wrong: c.detail(models().DetailRequest(instance_name="generic")),
        )


def test_add_search_delete(sdk: Any, photos: list[bytes]) -> None:
    product = f"shoe-{id(sdk)}"
    body = add(
        sdk,
        "generic",
        product,
        "main",
        photos[0],
        int_attr=7,
        str_attr="red",
        custom_content="k:v",
        crop=True,
    )
    assert (body.success, body.code, body.message) == (True, 0, "success")
    assert body.pic_info.category_id == 88888888 and body.pic_info.region
    assert [c.id for c in body.pic_info.all_categories][-1] == 88888888
    add(sdk, "generic", product, "side", photos[1])
    add(sdk, "generic", product, "main", photos[2], int_attr=8)  # replaces (ProductId, PicName)

    found = search(sdk, "generic", photos[2], num=5, distinct_product_id=False)
    assert (found.success, found.code, found.msg) == (True, 0, "success")
    first = found.auctions[0]
    assert (first.product_id, first.pic_name, first.score, first.int_attr) == (
        product,
        "main",
        1.0,
        8,
    )
    assert first.sort_expr_values == "5.37633353624177e+24;0"
    assert found.head.docs_found == len(found.auctions) >= 2
    assert found.pic_info.region.count(",") == 3 and found.pic_info.multi_region
    names = {(a.product_id, a.pic_name) for a in found.auctions}
    assert (product, "side") in names and len([n for n in names if n[0] == product]) == 2
    region = search(sdk, "generic", photos[2], region="0,200,0,200", score_threshold="0.5")
    assert region.pic_info.region == "0,200,0,200"
    assert all(a.score >= 0.5 for a in region.auctions)

    m = models()
    deleted = sdk.delete_image(
        m.DeleteImageRequest(instance_name="generic", product_id=product, pic_name="side")
    ).body
    assert (deleted.success, deleted.code, deleted.data.pic_names) == (True, 0, ["side"])
    deleted = sdk.delete_image(
        m.DeleteImageRequest(instance_name="generic", product_id=product)
    ).body
    assert deleted.data.pic_names == ["main"]
    after = search(sdk, "generic", photos[2])
    assert all(a.product_id != product for a in after.auctions)


def test_search_errors(sdk: Any, photos: list[bytes]) -> None:
    m = models()
    for extra, code in (
        ({"num": 101}, "OverflowMaxReturnNum"),
        ({"num": 0}, "InvalidNumParameter"),
        ({"start": 480, "num": 30}, "OverflowMaxResultNum"),
        ({"category_id": 99}, "InvalidCategory"),
        ({"region": "5,1,0,9"}, "BadRequest"),
        ({"filter": 'str_attr="a'}, "InvalidFilterClause"),
        ({"filter": "int_attr > x"}, "InvalidIntAttr"),
    ):
        raises(code, lambda e=extra: search(sdk, "generic", photos[0], **e))
    raises("UnsupportedPicFormat", lambda: search(sdk, "generic", b"GIF89 broken"))
    raises(
        "UnsupportedPicPixels",
        lambda: sdk.search_image_by_pic(
            m.SearchImageByPicRequest(instance_name="generic", pic_content=b64(tiny_png()))
        ),
    )
    raises(
        "BadRequest",
        lambda: sdk.search_image_by_pic(m.SearchImageByPicRequest(instance_name="generic")),
    )


def tiny_png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (50, 50), (1, 2, 3)).save(out, "PNG")
    return out.getvalue()


def test_product_category(sdk: Any, photos: list[bytes]) -> None:
    add(sdk, "product", f"bag-{id(sdk)}", "a", photos[3], category_id=3)
    body = search(sdk, "product", photos[3], category_id=3)
    assert body.pic_info.category_id == 3
    assert body.auctions[0].category_id == 3 and body.auctions[0].score == 1.0
    assert all(a.category_id == 3 for a in body.auctions)
    assert search(sdk, "product", photos[3], category_id=4).auctions == []


def test_capacity_and_flow_control(sdk: Any, photos: list[bytes]) -> None:
    add(sdk, "tiny", "only", "one", photos[4])
    raises("InstanceOverQuota", lambda: add(sdk, "tiny", "second", "one", photos[5]))
    m = models()
    time.sleep(1.1)  # the other signature's run of this test may have just used the window
    sdk.detail(m.DetailRequest(instance_name="slow"))
    raises("DeniedRequest", lambda: sdk.detail(m.DetailRequest(instance_name="slow")))


def test_operations_not_served(sdk: Any) -> None:
    m = models()
    for call in (
        lambda: sdk.search_image_by_text(
            m.SearchImageByTextRequest(instance_name="generic", text="red shoe")
        ),
        lambda: sdk.dump_meta(m.DumpMetaRequest(instance_name="generic")),
        lambda: sdk.dump_meta_list(m.DumpMetaListRequest(instance_name="generic")),
        lambda: sdk.increase_instance(
            m.IncreaseInstanceRequest(instance_name="generic", bucket_name="b", path="/a/b")
        ),
        lambda: sdk.increase_list(m.IncreaseListRequest(instance_name="generic")),
    ):
        raises("UnsupportedOperationType", call)


def test_filters(sdk: Any, photos: list[bytes]) -> None:
    tag = f"f{id(sdk)}"
    for n in range(4):
        add(sdk, "generic", f"{tag}-{n}", "a", photos[6 + n], int_attr=n, str_attr=tag)
    body = search(sdk, "generic", photos[6], filter=f'str_attr = "{tag}" AND int_attr >= 2')
    assert sorted(a.product_id for a in body.auctions) == [f"{tag}-2", f"{tag}-3"]
    m = models()
    deleted = sdk.delete_image(
        m.DeleteImageRequest(
            instance_name="generic", is_delete_by_filter=True, filter=f'str_attr = "{tag}"'
        )
    ).body
    assert deleted.success is True and deleted.data.pic_names == ["a"] * 4
    assert search(sdk, "generic", photos[6], filter=f'str_attr = "{tag}"').auctions == []


def test_search_image_by_name(sdk: Any, photos: list[bytes]) -> None:
    tag = f"n{id(sdk)}"
    add(sdk, "generic", tag, "main", photos[10], int_attr=1, str_attr=tag)
    add(sdk, "generic", tag, "side", photos[11], str_attr=tag)
    m = models()

    def by_name(pic: str, **extra: Any) -> Any:
        request = m.SearchImageByNameRequest(
            instance_name="generic", product_id=tag, pic_name=pic, **extra
        )
        return sdk.search_image_by_name(request).body

    body = by_name("main", num=5, score_threshold="0")
    assert (body.success, body.code, body.msg) == (True, 0, "success")
    first = body.auctions[0]
    assert (first.product_id, first.pic_name, first.score, first.int_attr) == (tag, "main", 1.0, 1)
    assert first.sort_expr_values == "5.37633353624177e+24;0"
    assert body.head.docs_found == len(body.auctions) <= 5 and body.head.docs_return >= 2
    assert isinstance(body.head.search_time, int)
    info = body.pic_info
    assert info.category_id == 88888888 and info.region.count(",") == 3
    assert [r.region for r in info.multi_region] == [info.region]
    assert [c.id for c in info.all_categories][-1] == 88888888
    mine = by_name("main", filter=f'str_attr = "{tag}"', distinct_product_id=False)
    assert [(a.pic_name, a.product_id) for a in mine.auctions] == [("main", tag), ("side", tag)]
    page = by_name("main", filter=f'str_attr = "{tag}"', start=1)
    assert [a.pic_name for a in page.auctions] == ["side"]
    distinct = by_name("main", filter=f'str_attr = "{tag}"', distinct_product_id=True)
    assert [a.pic_name for a in distinct.auctions] == ["main"]
    raises("BadRequest", lambda: by_name("missing"))
    raises("OverflowMaxReturnNum", lambda: by_name("main", num=101))
    raises("InvalidCategory", lambda: by_name("main", category_id=99))
    raises("InvalidFilterClause", lambda: by_name("main", filter="int_attr"))


def test_search_image_by_filter(sdk: Any, photos: list[bytes]) -> None:
    tag = f"s{id(sdk)}"
    for n in range(3):
        add(sdk, "generic", f"{tag}-{n}", "a", photos[n], int_attr=n, str_attr=tag)
    m = models()

    def by_filter(condition: str, **extra: Any) -> Any:
        request = m.SearchImageByFilterRequest(instance_name="generic", filter=condition, **extra)
        return sdk.search_image_by_filter(request).body

    body = by_filter(f'str_attr = "{tag}"')
    assert (body.success, body.code, body.msg) == (True, 0, "success")
    assert [a.product_id for a in body.auctions] == [f"{tag}-{n}" for n in range(3)]
    first = body.auctions[0]
    assert (first.pic_name, first.int_attr, first.str_attr) == ("a", 0, tag)
    assert first.category_id == 88888888
    assert "Score" not in first.to_map() and "SortExprValues" not in first.to_map()
    page = by_filter(f'str_attr = "{tag}" AND int_attr >= 1', start=1, num=1)
    assert [a.product_id for a in page.auctions] == [f"{tag}-2"]
    raises(
        "BadRequest",
        lambda: sdk.search_image_by_filter(m.SearchImageByFilterRequest(instance_name="generic")),
    )
    raises("InvalidIntAttr", lambda: by_filter("int_attr = one"))
    raises("OverflowMaxReturnNum", lambda: by_filter("int_attr > 0", num=101))


def test_update_image_and_check_image_exists(sdk: Any, photos: list[bytes]) -> None:
    tag = f"u{id(sdk)}"
    add(sdk, "generic", tag, "a", photos[4], int_attr=1, int_attr_3=3, str_attr="s")
    m = models()

    def check(pic: str) -> Any:
        request = m.CheckImageExistsRequest(instance_name="generic", product_id=tag, pic_name=pic)
        return sdk.check_image_exists(request).body

    body = check("a")
    assert (body.success, body.code, body.msg, body.exists) == (True, 0, "success", True)
    found = body.auctions
    assert (found.product_id, found.pic_name, found.int_attr_3) == (tag, "a", 3)
    updated = sdk.update_image(
        m.UpdateImageRequest(
            instance_name="generic",
            product_id=tag,
            pic_name="a",
            int_attr_3=30,  # one of the four the SDK sends in the query string
            str_attr_4="four",
            int_attr_2=2,  # and two of the body's
            custom_content="new",
        )
    ).body
    assert (updated.success, updated.code, updated.message) == (True, 0, "success")
    shown = check("a").auctions
    assert (shown.int_attr, shown.int_attr_2, shown.int_attr_3, shown.int_attr_4) == (
        1,
        2,
        30,
        None,
    )
    assert (shown.str_attr, shown.str_attr_4, shown.custom_content) == ("s", "four", "new")
    assert shown.category_id == 88888888 and "Score" not in shown.to_map()
    missing = check("b")
    assert (missing.success, missing.exists) == (True, False)
    # Auctions is {} for a missing picture: the SDK still gives an object, every field None.
    assert missing.auctions is not None and missing.auctions.product_id is None
    raises(
        "BadRequest",
        lambda: sdk.update_image(
            m.UpdateImageRequest(instance_name="generic", product_id=tag, pic_name="b", int_attr=1)
        ),
    )
    raises(
        "BadRequest",
        lambda: sdk.update_image(
            m.UpdateImageRequest(instance_name="generic", product_id=tag, str_attr_3="50%")
        ),
    )
    raises(
        "BadRequest",
        lambda: sdk.check_image_exists(
            m.CheckImageExistsRequest(instance_name="generic", product_id=tag)
        ),
    )


def recompressed(data: bytes) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("RGB").save(out, "JPEG", quality=80)
    return out.getvalue()


def test_compare_similar_by_image(sdk: Any, photos: list[bytes]) -> None:
    m = models()

    def compare(primary: bytes, secondary: bytes) -> Any:
        request = m.CompareSimilarByImageRequest(
            instance_name="generic",
            primary_pic_content=b64(primary),
            secondary_pic_content=b64(secondary),
        )
        return sdk.compare_similar_by_image(request).body

    same = compare(photos[5], photos[5])
    assert (same.success, same.code, same.msg, same.score) == (True, 0, "success", 1.0)
    assert same.access_denied_detail is None
    near = compare(photos[5], recompressed(photos[5])).score
    others = [compare(photos[5], photos[n]).score for n in (6, 7, 8)]
    assert all(0 <= s < near < 1 for s in others), (near, others)
    raises("UnsupportedPicFormat", lambda: compare(photos[5], b"GIF89 broken"))
    raises("UnsupportedPicPixels", lambda: compare(tiny_png(), photos[5]))
    raises(
        "BadRequest",
        lambda: sdk.compare_similar_by_image(
            m.CompareSimilarByImageRequest(
                instance_name="generic", primary_pic_content=b64(photos[5])
            )
        ),
    )
