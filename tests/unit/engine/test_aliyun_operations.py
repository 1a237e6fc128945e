"""Every operation the engine serves over the Alibaba wire (aliyun-wire §4-§6)."""

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
from engine.models import AliyunImage, EngineApp, EngineChange, EngineEntry, EngineLibrary
from engine.vectors import decode_vectors
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


def test_a_detected_subject_is_stored_and_searched_beside_the_whole_picture(
    account: Account,
) -> None:
    """Stored with Crop=true, a picture is found by its whole self (Crop=false) and by its
    subject alone: the entry keeps both sets of vectors (aliyun-wire §5.5)."""
    for n in range(5):
        add(account, "generic", f"c{n}", "a", on_canvas(n))
    cropped = EngineEntry.objects.get(aliyun_image__product_id="c2")
    add(account, "generic", "w2", "a", on_canvas(2), Crop="false")
    whole = EngineEntry.objects.get(aliyun_image__product_id="w2")
    assert len(decode_vectors(bytes(cropped.vectors))) > len(decode_vectors(bytes(whole.vectors)))
    moved = on_canvas(2, at=(250, 70))  # the same subject a little elsewhere: another picture
    _, body = search(account, "generic", moved, Crop="false")
    assert body["Auctions"][0]["ProductId"] in ("c2", "w2")
    _, body = search(account, "generic", picture(2, (160, 160)), Crop="false")
    assert body["Auctions"][0]["ProductId"] == "c2"


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


def test_delete_touches_only_its_own_instance(account: Account, client: Client) -> None:
    stranger = make_account(client)
    make_instance(stranger, "generic", 1)  # the same instance name under another AccessKey
    make_instance(account, "twin", 1)
    for who, instance in ((account, "generic"), (account, "twin"), (stranger, "generic")):
        for n in range(2):
            add(who, instance, "p", f"{n}", picture(n), StrAttr="s")
    _, body = account.call(
        "DeleteImage",
        {"InstanceName": "generic", "IsDeleteByFilter": "true", "Filter": 'str_attr = "s"'},
    )
    assert sorted(body["Data"]["PicNames"]) == ["0", "1"]
    assert (total(account, "generic"), total(account, "twin"), total(stranger, "generic")) == (
        0,
        2,
        2,
    )
    _, body = account.call("DeleteImage", {"InstanceName": "twin", "ProductId": "p"})
    assert sorted(body["Data"]["PicNames"]) == ["0", "1"]
    assert total(stranger, "generic") == 2
    assert AliyunImage.objects.count() == EngineEntry.objects.count() == 2


# -- SearchImageByName (aliyun-wire §6.1) ------------------------------------------------------


def by_name(
    account: Account, instance: str, product: str, pic: str, query: Any = None, **extra: Any
) -> tuple[int, dict[str, Any]]:
    body = {"InstanceName": instance, "ProductId": product, "PicName": pic, **extra}
    return account.call("SearchImageByName", body, query)


def test_search_by_name_puts_the_picture_first(account: Account) -> None:
    add(account, "generic", "copy", "a", picture(3))  # the same bytes, added earlier
    for n in range(5):
        add(account, "generic", f"p{n}", "a", picture(n), IntAttr=n)
    status, body = by_name(account, "generic", "p3", "a")
    assert status == 200, body
    assert (body["Success"], body["Code"], body["Msg"]) == (True, 0, "success")
    assert set(body) == {"RequestId", "Success", "Code", "Msg", "Head", "Auctions", "PicInfo"}
    names = [(a["ProductId"], a["Score"]) for a in body["Auctions"]]
    assert names[:2] == [("p3", 1.0), ("copy", 1.0)]
    assert body["Auctions"][0]["SortExprValues"] == "5.37633353624177e+24;0"
    assert body["Head"]["DocsFound"] == len(body["Auctions"]) == 6
    assert body["Head"]["DocsReturn"] == 6
    stored = AliyunImage.objects.get(product_id="p3")
    assert body["PicInfo"] == {
        "CategoryId": 88888888,
        "Region": stored.region,
        "MultiRegion": [{"Region": stored.region}],
        "AllCategories": [{"Id": cid, "Name": name} for cid, name in CATEGORIES.items()],
    }


def test_search_by_name_ranks_as_search_by_pic(account: Account) -> None:
    """Stored whole, a picture's own vectors are those a whole-picture query would have."""
    for n in range(6):
        add(account, "generic", f"p{n}", "a", picture(n), Crop="false")
    _, named = by_name(account, "generic", "p2", "a", Num=6)
    _, sent = search(account, "generic", picture(2), Crop="false", Num=6)
    assert [(a["ProductId"], a["Score"]) for a in named["Auctions"]] == [
        (a["ProductId"], a["Score"]) for a in sent["Auctions"]
    ]


def test_search_by_name_uses_the_stored_vectors(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    add(account, "generic", "p", "a", picture(1))
    add(account, "generic", "q", "a", picture(2))

    def no_extraction(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a search by name extracts nothing")

    monkeypatch.setattr("engine.aliyun.operations.extract", no_extraction)
    monkeypatch.setattr("engine.aliyun.operations.pictures.subjects", no_extraction)
    status, body = by_name(account, "generic", "q", "a")
    assert status == 200 and [a["ProductId"] for a in body["Auctions"]] == ["q", "p"]


def test_search_by_name_options(account: Account) -> None:
    for n in range(6):
        add(account, "generic", f"p{n}", "a", picture(n), IntAttr=n * 100)
    add(account, "generic", "p0", "b", picture(40), IntAttr=0)
    _, body = by_name(account, "generic", "p0", "a", Filter="int_attr >= 300")
    assert sorted(a["ProductId"] for a in body["Auctions"]) == ["p3", "p4", "p5"]
    _, body = by_name(account, "generic", "p0", "a", {"ScoreThreshold": "1"})
    assert [a["ProductId"] for a in body["Auctions"]] == ["p0"]
    _, every = by_name(account, "generic", "p0", "a", DistinctProductId="false")
    _, distinct = by_name(account, "generic", "p0", "a", DistinctProductId="true")
    assert len(every["Auctions"]) == 7 and len(distinct["Auctions"]) == 6
    assert distinct["Auctions"][0]["PicName"] == "a"
    _, page = by_name(account, "generic", "p0", "a", Start=2, Num=3)
    assert [a["PicName"] + a["ProductId"] for a in page["Auctions"]] == [
        a["PicName"] + a["ProductId"] for a in every["Auctions"][2:5]
    ]
    assert (page["Head"]["DocsFound"], page["Head"]["DocsReturn"]) == (3, 7)


def test_search_by_name_category(account: Account) -> None:
    add(account, "product", "shoe", "a", picture(1), CategoryId=4)
    add(account, "product", "bag", "a", picture(2), CategoryId=3)
    _, body = by_name(account, "product", "shoe", "a")
    assert body["PicInfo"]["CategoryId"] == 4  # the stored picture's
    assert [a["ProductId"] for a in body["Auctions"]] == ["shoe", "bag"]
    _, body = by_name(account, "product", "shoe", "a", CategoryId=3)
    assert body["PicInfo"]["CategoryId"] == 3  # the one searched
    assert [a["ProductId"] for a in body["Auctions"]] == ["bag"]


@pytest.mark.parametrize(
    ("extra", "query", "code"),
    [
        ({"ProductId": ""}, None, "BadRequest"),
        ({"PicName": ""}, None, "BadRequest"),
        ({"PicName": "x" * 257}, None, "BadRequest"),
        ({"PicName": "missing"}, None, "BadRequest"),
        ({"ProductId": "missing"}, None, "BadRequest"),
        # The options are checked first, as in SearchImageByPic, even for an unknown pair.
        ({"PicName": "missing", "Num": "101"}, None, "OverflowMaxReturnNum"),
        ({"Num": "0"}, None, "InvalidNumParameter"),
        ({"Start": "500"}, None, "BadRequest"),
        ({"Start": "450", "Num": "51"}, None, "OverflowMaxResultNum"),
        ({"CategoryId": "12"}, None, "InvalidCategory"),
        ({"DistinctProductId": "yes"}, None, "BadRequest"),
        ({"Filter": "int_attr > 1.5"}, None, "InvalidIntAttr"),
        ({"Filter": "in (1)"}, None, "InvalidFilterClause"),
        ({}, {"ScoreThreshold": "0.123"}, "BadRequest"),
    ],
)
def test_search_by_name_refusals(
    account: Account, extra: dict[str, str], query: dict[str, str] | None, code: str
) -> None:
    add(account, "generic", "p", "a", picture(1))
    is_error(*by_name(account, "generic", "p", "a", query, **extra), code)


def test_search_by_name_of_stale_features(account: Account) -> None:
    add(account, "generic", "p", "a", picture(1))
    EngineEntry.objects.update(features_version="an older version")
    is_error(*by_name(account, "generic", "p", "a"), "AccessEngineFailed")


# -- SearchImageByFilter (aliyun-wire §6.2) ----------------------------------------------------


def by_filter(
    account: Account, instance: str, condition: str, **extra: Any
) -> tuple[int, dict[str, Any]]:
    return account.call(
        "SearchImageByFilter", {"InstanceName": instance, "Filter": condition, **extra}
    )


def test_search_by_filter_lists_in_add_order(account: Account) -> None:
    make_instance(account, "twin", 1)
    add(account, "twin", "p0", "a", picture(0), IntAttr=0)
    for n in range(12):
        add(account, "generic", f"p{n}", "a", picture(n), IntAttr=n, CustomContent=f"c{n}")
    add(account, "generic", "p1", "a", picture(1), IntAttr=1)  # replaced: now the newest
    status, body = by_filter(account, "generic", "int_attr >= 0")
    assert status == 200, body
    assert set(body) == {"RequestId", "Success", "Code", "Msg", "Auctions"}
    assert (body["Success"], body["Code"], body["Msg"]) == (True, 0, "success")
    order = [f"p{n}" for n in (0, *range(2, 12), 1)]
    assert [a["ProductId"] for a in body["Auctions"]] == order[:10]  # Num defaults to 10
    assert body["Auctions"][0] == {
        "ProductId": "p0",
        "PicName": "a",
        "CategoryId": 88888888,
        "CustomContent": "c0",
        "IntAttr": 0,
    }
    _, page = by_filter(account, "generic", "int_attr >= 0", Start=9, Num=5)
    assert [a["ProductId"] for a in page["Auctions"]] == order[9:]
    _, some = by_filter(account, "generic", "int_attr < 3 OR int_attr = 11", Num=100)
    assert [a["ProductId"] for a in some["Auctions"]] == ["p0", "p2", "p11", "p1"]
    _, none = by_filter(account, "generic", "int_attr > 100")
    assert none["Auctions"] == []


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"Filter": ""}, "BadRequest"),
        ({"Filter": "int_attr >"}, "InvalidFilterClause"),
        ({"Filter": 'int_attr = "1"'}, "InvalidIntAttr"),
        ({"Num": "101"}, "OverflowMaxReturnNum"),
        ({"Num": "-1"}, "InvalidNumParameter"),
        ({"Start": "x"}, "BadRequest"),
        ({"Start": "499", "Num": "2"}, "OverflowMaxResultNum"),
    ],
)
def test_search_by_filter_refusals(account: Account, extra: dict[str, str], code: str) -> None:
    is_error(*by_filter(account, "generic", "int_attr > 0", **extra), code)


# -- UpdateImage (aliyun-wire §6.3) ------------------------------------------------------------


def exists(account: Account, instance: str, product: str, pic: str) -> dict[str, Any]:
    status, body = account.call(
        "CheckImageExists", {"InstanceName": instance, "ProductId": product, "PicName": pic}
    )
    assert status == 200, body
    return body


def test_update_changes_what_is_sent_and_keeps_the_rest(account: Account) -> None:
    add(account, "generic", "p", "a", picture(1), IntAttr=1, IntAttr3=3, StrAttr="s", StrAttr2="t")
    library = EngineLibrary.objects.get(aliyun_instance__name="generic")
    status, body = account.call(
        "UpdateImage",
        {"InstanceName": "generic", "ProductId": "p", "PicName": "a", "IntAttr": 10},
        # These four travel in the query string (the spec §6).
        {"IntAttr3": 30, "IntAttr4": -4, "StrAttr3": "three", "StrAttr4": "four"},
    )
    assert status == 200, body
    assert body == {
        "RequestId": body["RequestId"],
        "Code": 0,
        "Message": "success",
        "Success": True,
    }
    assert exists(account, "generic", "p", "a")["Auctions"] == {
        "ProductId": "p",
        "PicName": "a",
        "CategoryId": 88888888,
        "IntAttr": 10,
        "IntAttr3": 30,
        "IntAttr4": -4,
        "StrAttr": "s",
        "StrAttr2": "t",
        "StrAttr3": "three",
        "StrAttr4": "four",
    }
    account.call(
        "UpdateImage",
        {
            "InstanceName": "generic",
            "ProductId": "p",
            "PicName": "a",
            "CustomContent": "new",
            "StrAttr": "u",
            "IntAttr2": 2,
        },
    )
    shown = exists(account, "generic", "p", "a")["Auctions"]
    assert (shown["CustomContent"], shown["StrAttr"], shown["IntAttr2"], shown["IntAttr"]) == (
        "new",
        "u",
        2,
        10,
    )
    # The change log has one update record per call, for the picture's entry.
    entry = EngineEntry.objects.get()
    changes = list(library.changes.order_by("seq").values_list("seq", "op", "entry_id"))
    assert changes[-2:] == [
        (library.seq + 1, EngineChange.UPDATE, entry.pk),
        (library.seq + 2, EngineChange.UPDATE, entry.pk),
    ]
    assert EngineLibrary.objects.get(pk=library.pk).seq == library.seq + 2


def test_update_is_seen_by_filters_at_once(account: Account) -> None:
    for n in range(3):
        add(account, "generic", f"p{n}", "a", picture(n), IntAttr=n, StrAttr="old")
    _, body = search(account, "generic", picture(0), Filter='str_attr = "new"')
    assert body["Auctions"] == []
    account.call(
        "UpdateImage",
        {"InstanceName": "generic", "ProductId": "p1", "PicName": "a", "StrAttr": "new"},
        {"IntAttr3": 7},
    )
    _, body = search(account, "generic", picture(0), Filter='str_attr = "new"')
    assert [a["ProductId"] for a in body["Auctions"]] == ["p1"]
    assert body["Auctions"][0]["IntAttr3"] == 7
    _, body = by_filter(account, "generic", 'str_attr != "new"')
    assert [a["ProductId"] for a in body["Auctions"]] == ["p0", "p2"]


def test_update_without_pic_name_changes_the_whole_product(account: Account) -> None:
    make_instance(account, "twin", 1)
    for pic in ("a", "b"):
        add(account, "generic", "p", pic, picture(ord(pic)))
        add(account, "twin", "p", pic, picture(ord(pic)))
    add(account, "generic", "q", "a", picture(9))
    library = EngineLibrary.objects.get(aliyun_instance__name="generic")
    status, _ = account.call(
        "UpdateImage", {"InstanceName": "generic", "ProductId": "p", "IntAttr": 5}
    )
    assert status == 200
    assert [exists(account, "generic", "p", pic)["Auctions"].get("IntAttr") for pic in "ab"] == [
        5,
        5,
    ]
    assert "IntAttr" not in exists(account, "generic", "q", "a")["Auctions"]
    assert "IntAttr" not in exists(account, "twin", "p", "a")["Auctions"]
    assert EngineLibrary.objects.get(pk=library.pk).seq == library.seq + 2


def test_update_with_nothing_to_change_is_a_no_op(account: Account) -> None:
    add(account, "generic", "p", "a", picture(1), IntAttr=1)
    seq = EngineLibrary.objects.get(aliyun_instance__name="generic").seq
    status, body = account.call(
        "UpdateImage", {"InstanceName": "generic", "ProductId": "p", "PicName": "a", "IntAttr": ""}
    )
    assert status == 200 and body["Success"] is True
    assert EngineLibrary.objects.get(aliyun_instance__name="generic").seq == seq
    assert exists(account, "generic", "p", "a")["Auctions"]["IntAttr"] == 1


@pytest.mark.parametrize(
    ("extra", "query", "code"),
    [
        ({"ProductId": ""}, None, "BadRequest"),
        ({"ProductId": "missing"}, None, "BadRequest"),
        ({"PicName": "missing"}, None, "BadRequest"),
        ({"PicName": "x" * 257}, None, "BadRequest"),
        ({"IntAttr": "2147483648"}, None, "BadRequest"),
        ({"IntAttr2": "one"}, None, "BadRequest"),
        ({}, {"IntAttr4": "1e3"}, "BadRequest"),
        ({}, {"StrAttr3": "50%"}, "BadRequest"),
        ({"StrAttr": "x" * 129}, None, "BadRequest"),
        ({"CustomContent": "x" * 4097}, None, "BadRequest"),
    ],
)
def test_update_refusals(
    account: Account, extra: dict[str, str], query: dict[str, str] | None, code: str
) -> None:
    add(account, "generic", "p", "a", picture(1), IntAttr=1)
    body = {"InstanceName": "generic", "ProductId": "p", "PicName": "a", "StrAttr": "z", **extra}
    is_error(*account.call("UpdateImage", body, query), code)
    assert "StrAttr" not in exists(account, "generic", "p", "a")["Auctions"]  # nothing changed


# -- CheckImageExists (aliyun-wire §6.4) -------------------------------------------------------


def test_check_image_exists(account: Account) -> None:
    add(account, "product", "p", "a", picture(1), CategoryId=4, StrAttr2="x", CustomContent="c")
    body = exists(account, "product", "p", "a")
    assert body == {
        "RequestId": body["RequestId"],
        "Success": True,
        "Code": 0,
        "Msg": "success",
        "Exists": True,
        "Auctions": {
            "ProductId": "p",
            "PicName": "a",
            "CategoryId": 4,
            "CustomContent": "c",
            "StrAttr2": "x",
        },
    }
    for product, pic, instance in (
        ("p", "b", "product"),
        ("q", "a", "product"),
        ("p", "a", "generic"),
    ):
        body = exists(account, instance, product, pic)
        assert (body["Exists"], body["Auctions"], body["Success"]) == (False, {}, True)


@pytest.mark.parametrize(
    "extra", [{"ProductId": ""}, {"PicName": ""}, {"ProductId": "x" * 257}, {"PicName": "y" * 257}]
)
def test_check_image_exists_refusals(account: Account, extra: dict[str, str]) -> None:
    body = {"InstanceName": "generic", "ProductId": "p", "PicName": "a", **extra}
    is_error(*account.call("CheckImageExists", body), "BadRequest")


# -- CompareSimilarByImage (aliyun-wire §6.5) --------------------------------------------------


def compare(
    account: Account, instance: str, primary: bytes, secondary: bytes, **extra: Any
) -> tuple[int, dict[str, Any]]:
    body = {
        "InstanceName": instance,
        "PrimaryPicContent": b64(primary),
        "SecondaryPicContent": b64(secondary),
        **extra,
    }
    return account.call("CompareSimilarByImage", body)


def near_copy(data: bytes) -> bytes:
    """The picture recompressed as a JPEG: other bytes, the same scene."""
    out = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("RGB").save(out, "JPEG", quality=90)
    return out.getvalue()


def test_compare_identical_bytes_score_one(account: Account) -> None:
    status, body = compare(account, "generic", picture(1), picture(1))
    assert status == 200, body
    assert body == {
        "RequestId": body["RequestId"],
        "Success": True,
        "Code": 0,
        "Msg": "success",
        "Score": 1.0,
        "AccessDeniedDetail": None,
    }


@pytest.mark.parametrize("instance", ["generic", "product"])
def test_compare_scores_as_a_search_does(account: Account, instance: str) -> None:
    original = picture(4)
    near, unrelated = near_copy(original), picture(30)
    add(account, instance, "near", "a", near)
    add(account, instance, "unrelated", "a", unrelated)
    _, found = search(account, instance, original)
    searched = {a["ProductId"]: a["Score"] for a in found["Auctions"]}
    assert [a["ProductId"] for a in found["Auctions"]] == ["near", "unrelated"]
    _, close = compare(account, instance, original, near)
    _, far = compare(account, instance, original, unrelated)
    assert close["Score"] > far["Score"]
    assert close["Score"] == pytest.approx(searched["near"], abs=2e-4)
    assert far["Score"] == pytest.approx(searched["unrelated"], abs=2e-4)
    _, back = compare(account, instance, near, original)
    assert back["Score"] == pytest.approx(close["Score"], abs=2e-4)
    assert 0 <= far["Score"] < close["Score"] < 1


def test_compare_on_fabric_uses_its_pixel_limits(account: Account) -> None:
    big = picture(1, (448, 480))
    assert compare(account, "fabric", big, near_copy(big))[1]["Score"] > 0.5
    is_error(*compare(account, "fabric", big, picture(2, (400, 480))), "UnsupportedPicPixels")


def rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 3
    out = io.BytesIO()
    Image.open(io.BytesIO(picture(1))).save(out, "JPEG", exif=exif)
    return out.getvalue()


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"PrimaryPicContent": ""}, "BadRequest"),
        ({"SecondaryPicContent": ""}, "BadRequest"),
        ({"SecondaryPicContent": "%%%"}, "BadRequest"),
        ({"PrimaryPicContent": b64(b"<svg/>")}, "UnsupportedPicFormat"),
        ({"SecondaryPicContent": b64(picture(1, (4097, 120)))}, "UnsupportedPicPixels"),
        ({"SecondaryPicContent": b64(rotated())}, "IncorrectOrientation"),
        ({"PrimaryPicContent": b64(flat())}, "BadRequest"),
    ],
)
def test_compare_refusals(account: Account, extra: dict[str, str], code: str) -> None:
    is_error(*compare(account, "generic", picture(1), picture(2), **extra), code)
