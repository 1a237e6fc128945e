"""AddImage, SearchImageByPic and DeleteImage over the Alibaba wire (aliyun-wire §4-§6)."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
import pytest
from django.test import Client
from PIL import Image

from engine import services
from engine.aliyun import image as pictures
from engine.models import AliyunImage, EngineApp, EngineEntry, EngineLibrary
from wire.aliyun import CATEGORIES, ERRORS

from .aliyunkit import Account, make_account, make_instance
from .enginekit import flat, picture


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def is_error(status: int, body: dict[str, Any], code: str) -> None:
    assert (status, body["Code"], body["Message"]) == (ERRORS[code][0], code, ERRORS[code][1])


def on_canvas(seed: int, at: tuple[int, int] = (260, 60), size: int = 160) -> bytes:
    """A picture pasted on a plain background: a subject with a known box."""
    canvas = Image.new("RGB", (480, 360), (245, 245, 245))
    canvas.paste(Image.open(io.BytesIO(picture(seed, (size, size)))), at)
    out = io.BytesIO()
    canvas.save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def account(db: None, client: Client, monkeypatch: pytest.MonkeyPatch) -> Account:
    # The tiers stop at 10 QPS; flow control has its own test (test_aliyun_wire.py).
    monkeypatch.setattr("engine.aliyun.views.throttle.admit", lambda key, limit: True)
    made = make_account(client)
    make_instance(made, "generic", 1)
    make_instance(made, "product", 0)
    make_instance(made, "fabric", 2)
    make_instance(made, "tiny", 1, capacity=2)
    return made


def add(
    account: Account, instance: str, product: str, pic: str, data: bytes, **extra: Any
) -> tuple[int, dict[str, Any]]:
    body = {"InstanceName": instance, "ProductId": product, "PicName": pic, "PicContent": b64(data)}
    return account.call("AddImage", {**body, **extra})


def search(
    account: Account, instance: str, data: bytes, query: Any = None, **extra: Any
) -> tuple[int, dict[str, Any]]:
    body = {"InstanceName": instance, "PicContent": b64(data), **extra}
    return account.call("SearchImageByPic", body, query)


def total(account: Account, instance: str) -> int:
    return int(
        account.call("Detail", query={"InstanceName": instance})[1]["Instance"]["TotalCount"]
    )


def test_add_answers_pic_info(account: Account) -> None:
    status, body = add(account, "generic", "p1", "a", picture(1))
    assert status == 200, body
    assert (body["Code"], body["Message"], body["Success"]) == (0, "success", True)
    info = body["PicInfo"]
    assert info["CategoryId"] == 88888888
    assert [c["Id"] for c in info["AllCategories"]] == list(CATEGORIES)
    assert info["MultiRegion"][0]["Region"] == info["Region"]


def test_readd_of_a_pair_replaces(account: Account) -> None:
    assert add(account, "generic", "p1", "a", picture(1))[0] == 200
    assert add(account, "generic", "p1", "a", picture(2), CustomContent="second")[0] == 200
    assert total(account, "generic") == 1
    _, body = search(account, "generic", picture(2), Crop="False")
    assert body["Auctions"][0]["CustomContent"] == "second"
    assert body["Auctions"][0]["Score"] == 1.0


def test_capacity(account: Account) -> None:
    assert add(account, "tiny", "p", "1", picture(1))[0] == 200
    assert add(account, "tiny", "p", "2", picture(2))[0] == 200
    is_error(*add(account, "tiny", "p", "3", picture(3)), "InstanceOverQuota")
    assert add(account, "tiny", "p", "2", picture(4))[0] == 200  # a replacement still fits


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"ProductId": ""}, "BadRequest"),
        ({"PicName": "x" * 257}, "BadRequest"),
        ({"StrAttr": "a$b"}, "BadRequest"),
        ({"StrAttr2": "x" * 129}, "BadRequest"),
        ({"IntAttr3": "1.5"}, "BadRequest"),
        ({"CustomContent": "x" * 4097}, "BadRequest"),
        ({"CategoryId": "10"}, "InvalidCategory"),
        ({"Crop": "maybe"}, "BadRequest"),
        ({"PicContent": "!!"}, "BadRequest"),
        ({"PicContent": b64(b"not an image at all")}, "UnsupportedPicFormat"),
        ({"PicContent": b64(picture(1, (99, 300)))}, "UnsupportedPicPixels"),
        ({"PicContent": b64(flat())}, "BadRequest"),
    ],
)
def test_add_refusals(account: Account, extra: dict[str, str], code: str) -> None:
    is_error(*add(account, "generic", "p", "n", picture(1), **extra), code)


def test_rotation_flag_is_refused(account: Account) -> None:
    image = Image.open(io.BytesIO(picture(1)))
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    is_error(*add(account, "generic", "p", "n", out.getvalue()), "IncorrectOrientation")


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "TIFF", "PPM", "BMP", "JPEG"])
def test_formats(account: Account, fmt: str) -> None:
    assert add(account, "generic", "p", fmt, picture(1, fmt=fmt))[0] == 200


def test_fabric_pixel_limit_and_no_crop(account: Account) -> None:
    is_error(*add(account, "fabric", "p", "n", picture(1, (400, 500))), "UnsupportedPicPixels")
    status, body = add(account, "fabric", "p", "n", picture(1, (448, 500)))
    assert status == 200 and body["PicInfo"]["Region"] == "0,448,0,500"


def test_search_shapes_and_identical_first(account: Account) -> None:
    for n in range(6):
        add(account, "generic", f"p{n}", "a", picture(n), IntAttr=n, StrAttr=f"s{n}")
    status, body = search(account, "generic", picture(3), {"ScoreThreshold": "0"}, Num=4)
    assert status == 200, body
    assert (body["Success"], body["Code"], body["Msg"]) == (True, 0, "success")
    assert body["Head"]["DocsFound"] == len(body["Auctions"]) == 4
    assert body["Head"]["DocsReturn"] == 6
    first = body["Auctions"][0]
    assert (first["ProductId"], first["PicName"], first["Score"]) == ("p3", "a", 1.0)
    assert (first["IntAttr"], first["StrAttr"], first["CategoryId"]) == (3, "s3", 88888888)
    assert first["SortExprValues"] == "5.37633353624177e+24;0"
    assert "CustomContent" not in first and "IntAttr2" not in first
    scores = [a["Score"] for a in body["Auctions"]]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    _, page = search(account, "generic", picture(3), Num=2, Start=2)
    assert [a["ProductId"] for a in page["Auctions"]] == [
        a["ProductId"] for a in body["Auctions"][2:4]
    ]
    _, high = search(account, "generic", picture(3), {"ScoreThreshold": "0.99"})
    assert [a["ProductId"] for a in high["Auctions"]] == ["p3"]


def test_distinct_product(account: Account) -> None:
    for pic in ("a", "b", "c"):
        add(account, "generic", "same", pic, picture(7))
    add(account, "generic", "other", "a", picture(8))
    _, body = search(account, "generic", picture(7), DistinctProductId="true")
    assert [a["ProductId"] for a in body["Auctions"]] == ["same", "other"]
    _, body = search(account, "generic", picture(7), DistinctProductId="False")
    assert len(body["Auctions"]) == 4


@pytest.mark.parametrize(
    ("extra", "query", "code"),
    [
        ({"Num": "101"}, None, "OverflowMaxReturnNum"),
        ({"Num": "0"}, None, "InvalidNumParameter"),
        ({"Num": "ten"}, None, "InvalidNumParameter"),
        ({"Start": "-1"}, None, "BadRequest"),
        ({"Start": "450", "Num": "51"}, None, "OverflowMaxResultNum"),
        ({"CategoryId": "12"}, None, "InvalidCategory"),
        ({"Region": "10,5,0,50"}, None, "BadRequest"),
        ({}, {"ScoreThreshold": "0.555"}, "BadRequest"),
        ({}, {"ScoreThreshold": "1.5"}, "BadRequest"),
        ({"Filter": 'str_attr = "a'}, None, "InvalidFilterClause"),
        ({"Filter": "int_attr >= x1"}, None, "InvalidIntAttr"),
    ],
)
def test_search_refusals(
    account: Account, extra: dict[str, str], query: dict[str, str] | None, code: str
) -> None:
    is_error(*search(account, "generic", picture(1), query, **extra), code)


def test_product_category(account: Account) -> None:
    add(account, "product", "shoe", "a", picture(1), CategoryId=4)
    add(account, "product", "bag", "a", picture(2), CategoryId=3)
    _, body = search(account, "product", picture(1), CategoryId=3)
    assert [a["ProductId"] for a in body["Auctions"]] == ["bag"]
    assert body["PicInfo"]["CategoryId"] == 3
    _, body = search(account, "product", picture(1))
    assert body["Auctions"][0]["ProductId"] == "shoe"
    assert body["Auctions"][0]["CategoryId"] == 4
    assert body["Auctions"][0]["SortExprValues"] == "5.37633353624177e+24;0"
    _, body = search(account, "generic", picture(1), CategoryId=3)
    assert body["PicInfo"]["CategoryId"] == 88888888  # other types always use "Other"


def test_crop_finds_the_subject_and_region_overrides(account: Account) -> None:
    data = on_canvas(5)
    _, body = search(account, "generic", data)
    x1, x2, y1, y2 = (int(v) for v in body["PicInfo"]["Region"].split(","))
    truth = (260, 420, 60, 220)
    overlap = max(0, min(x2, truth[1]) - max(x1, truth[0])) * max(
        0, min(y2, truth[3]) - max(y1, truth[2])
    )
    union = (x2 - x1) * (y2 - y1) + 160 * 160 - overlap
    assert overlap / union > 0.5, body["PicInfo"]
    _, body = search(account, "generic", data, Crop="false")
    assert body["PicInfo"]["Region"] == "0,480,0,360"
    _, body = search(account, "generic", data, Region="270,410,70,210")
    assert body["PicInfo"]["Region"] == "270,410,70,210"


def test_cropped_search_finds_the_subject_alone(account: Account) -> None:
    """The subject added alone is found from the picture with it on a canvas, and first."""
    for n in range(5):
        add(account, "generic", f"p{n}", "a", picture(n, (160, 160)), Crop="false")
    _, body = search(account, "generic", on_canvas(2))
    assert body["Auctions"][0]["ProductId"] == "p2"


def test_activation_boxes_are_where_the_energy_is() -> None:
    energy = np.zeros((14, 14), np.float32)
    energy[2:6, 8:13] = 5.0
    energy[10:13, 1:4] = 3.0
    found = pictures.boxes_of(energy, 1400, 1400)
    assert found is not None
    assert found.main == (800, 1300, 200, 600)
    assert found.all[1] == (100, 400, 1000, 1300)
    assert pictures.boxes_of(np.ones((14, 14), np.float32), 100, 100) is None


def test_delete_one_picture_and_a_whole_product(account: Account) -> None:
    for pic in ("a", "b", "c"):
        add(account, "generic", "p", pic, picture(ord(pic)))
    add(account, "generic", "q", "a", picture(50))
    status, body = account.call(
        "DeleteImage", {"InstanceName": "generic", "ProductId": "p", "PicName": "b"}
    )
    assert status == 200 and body == {
        "RequestId": body["RequestId"],
        "Code": 0,
        "Message": "success",
        "Success": True,
        "Data": {"PicNames": ["b"]},
    }
    _, body = account.call("DeleteImage", {"InstanceName": "generic", "ProductId": "p"})
    assert sorted(body["Data"]["PicNames"]) == ["a", "c"]
    assert total(account, "generic") == 1
    _, body = account.call("DeleteImage", {"InstanceName": "generic", "ProductId": "p"})
    assert body["Data"]["PicNames"] == []
    _, body = search(account, "generic", picture(ord("a")))
    assert [a["ProductId"] for a in body["Auctions"]] == ["q"]
    is_error(*account.call("DeleteImage", {"InstanceName": "generic"}), "BadRequest")
    is_error(
        *account.call(
            "DeleteImage", {"InstanceName": "generic", "IsDeleteByFilter": "True", "Filter": "x"}
        ),
        "InvalidFilterClause",
    )
    is_error(
        *account.call("DeleteImage", {"InstanceName": "generic", "IsDeleteByFilter": "True"}),
        "BadRequest",
    )


def test_filters_in_search_and_delete(account: Account) -> None:
    for n in range(6):
        add(account, "generic", f"p{n}", "a", picture(n), IntAttr=n * 100, StrAttr=f"s{n % 2}")
    _, body = search(account, "generic", picture(0), Filter="int_attr >= 300")
    assert sorted(a["ProductId"] for a in body["Auctions"]) == ["p3", "p4", "p5"]
    _, body = search(account, "generic", picture(0), Filter='int_attr < 300 AND str_attr != "s1"')
    assert body["Auctions"][0]["ProductId"] == "p0"
    assert sorted(a["ProductId"] for a in body["Auctions"]) == ["p0", "p2"]
    _, body = search(
        account,
        "generic",
        picture(0),
        Filter='(int_attr = 100 or int_attr = 500) and str_attr = "s1"',
    )
    assert sorted(a["ProductId"] for a in body["Auctions"]) == ["p1", "p5"]
    status, body = account.call(
        "DeleteImage",
        {"InstanceName": "generic", "IsDeleteByFilter": "true", "Filter": 'str_attr = "s0"'},
    )
    assert status == 200 and sorted(body["Data"]["PicNames"]) == ["a", "a", "a"]
    assert total(account, "generic") == 3


def test_deleting_the_access_key_removes_instances_with_pictures(account: Account) -> None:
    add(account, "generic", "p", "a", picture(1))
    app = EngineApp.objects.get(api_key=account.access_key_id)
    services.engine_app_delete(app_id=app.app_id)
    assert not AliyunImage.objects.exists() and not EngineEntry.objects.exists()
    assert not EngineLibrary.objects.exists()
