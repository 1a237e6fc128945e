"""Paths, response format, parameter rules and the order of checks (baidu-wire §2, §3, §5, §8)."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from django.test import Client
from PIL import Image

from engine import services, views
from engine.models import EngineEntry

from .enginekit import PATHS, App, assert_error, b64, flat, picture

pytestmark = pytest.mark.django_db

IMAGE = picture(7, size=(400, 320))


# ------------------------------------------------------------------ paths and format


@pytest.mark.parametrize("service", list(PATHS))
@pytest.mark.parametrize("op", ["add", "search", "update", "delete"])
def test_every_api_path_is_routed(app: App, service: str, op: str) -> None:
    body = app.call(service, op, {})
    assert_error(body, 216101, "not enough param")


@pytest.mark.parametrize("op", ["add", "search", "update", "delete"])
def test_alternate_same_hq_path(app: App, op: str) -> None:
    path = f"/rest/2.0/image-classify/v1/realtime_search/same_hq/{op}?access_token={app.token}"
    response = app.client.post(path, "", content_type="application/x-www-form-urlencoded")
    assert_error(response.json(), 216101, "not enough param")


@pytest.mark.parametrize("method", ["get", "put", "delete", "patch", "options"])
def test_non_post_is_3(client: Client, method: str) -> None:
    response = getattr(client, method)(PATHS["similar"].format(op="add"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json;charset=utf-8"
    assert_error(response.json(), 3, "Unsupported openapi method")


@pytest.mark.parametrize(
    "path",
    [
        "/rest/2.0/realtime_search/same_hq/add/",
        "/rest/2.0/realtime_search/same_hq/list",
        "/rest/2.0/image-classify/v1/realtime_search/picturebook/add",
        "/rest/2.0/imagesearch/v1/realtime_search/similar/add",
        "/rest/2.0/realtime_search/similar/add",
        "/rest/2.0/nothing",
    ],
)
def test_unknown_api_paths_are_3_and_never_redirect(client: Client, path: str) -> None:
    response = client.post(path)
    assert response.status_code == 200
    assert_error(response.json(), 3, "Unsupported openapi method")


def test_log_ids_are_unique(app: App) -> None:
    ids = {app.call("similar", "search", {})["log_id"] for _ in range(50)}
    assert len(ids) == 50
    assert all(0 < i < 2**53 for i in ids)


def test_unexpected_failure_is_282000_json(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(views, "extract", boom)
    body = app.call("similar", "add", {"image": b64(IMAGE), "brief": "x"})
    assert_error(body, 282000, "internal error")


# ------------------------------------------------------------------ access and state


def test_service_not_enabled_is_6(make_app: Any) -> None:
    app = make_app(("similar",))
    assert_error(app.call("same_hq", "search", {}), 6, "No permission to access data")


def test_library_missing_is_216017(make_app: Any) -> None:
    app = make_app(("similar", "product"), libraries=("similar",))
    assert_error(app.call("product", "search", {}), 216017, "not initialized")


def test_disabling_a_service_keeps_the_library(make_app: Any) -> None:
    app = make_app(("similar",))
    services.engine_app_update(app_id=app.app_id, services=[])
    assert_error(app.call("similar", "search", {}), 6, "No permission to access data")
    services.engine_app_update(app_id=app.app_id, services=["similar"])
    assert_error(app.call("similar", "search", {}), 216101, "not enough param")


def test_capacity_is_19_and_delete_frees_room(make_app: Any) -> None:
    app = make_app(("similar",), capacity=1)
    first = app.call("similar", "add", {"image": b64(IMAGE), "brief": "a"})
    second = {"image": b64(picture(8)), "brief": "b"}
    assert_error(app.call("similar", "add", second), 19, "Open api total request limit reached")
    # A duplicate is reported as such even when full (216681 is checked before 19).
    assert_error(
        app.call("similar", "add", {"image": b64(IMAGE), "brief": "a"}), 216681, "item exist"
    )
    app.call("similar", "delete", {"cont_sign": first["cont_sign"]})
    assert "cont_sign" in app.call("similar", "add", second)
    services.engine_library_set_capacity(app_id=app.app_id, service="similar", capacity=2)
    assert "cont_sign" in app.call("similar", "add", {"image": b64(IMAGE), "brief": "a"})


def test_duplicate_add_is_216681_and_changes_nothing(app: App) -> None:
    first = app.call("same_hq", "add", {"image": b64(IMAGE), "brief": "one", "tags": "1"})
    again = app.call("same_hq", "add", {"image": b64(IMAGE), "brief": "two", "tags": "2"})
    assert_error(again, 216681, "item exist")
    entry = EngineEntry.objects.get(cont_sign=first["cont_sign"])
    assert (entry.brief, entry.tags) == ("one", (1,))
    # The same image may live in another library.
    other = app.call("similar", "add", {"image": b64(IMAGE), "brief": "x"})
    assert other["cont_sign"] == first["cont_sign"]


def test_cont_sign_is_derived_from_the_file_bytes(app: App) -> None:
    import hashlib

    body = app.call("similar", "add", {"image": b64(IMAGE), "brief": "x"})
    digest = hashlib.sha256(IMAGE).digest()
    expected = f"{int.from_bytes(digest[:4], 'big')},{int.from_bytes(digest[4:8], 'big')}"
    assert body["cont_sign"] == expected


# ------------------------------------------------------------------ presence (step 6)


def test_brief_is_required_on_add(app: App) -> None:
    assert_error(app.call("similar", "add", {"image": b64(IMAGE)}), 216101, "not enough param")
    assert_error(
        app.call("similar", "add", {"image": b64(IMAGE), "brief": ""}),
        216101,
        "not enough param",
    )


def test_cont_sign_is_not_a_selector_for_add_or_search(app: App) -> None:
    for op in ("add", "search"):
        body = app.call("similar", op, {"cont_sign": "1,2", "brief": "x"})
        assert_error(body, 216101, "not enough param")


def test_empty_cont_sign_is_absent(app: App) -> None:
    assert_error(app.call("similar", "delete", {"cont_sign": ""}), 216101, "not enough param")


def test_empty_image_still_counts_as_sent(app: App) -> None:
    assert_error(app.call("similar", "search", "image=&url=http%3A%2F%2Fx"), 216200, "empty image")
    assert_error(app.call("similar", "delete", "image=&cont_sign=1,2"), 216200, "empty image")


def test_empty_url_is_282114(app: App) -> None:
    assert_error(app.call("similar", "search", "url="), 282114, "url size error")


# ------------------------------------------------------------------ formats (step 7)


@pytest.mark.parametrize(
    ("fields", "code", "msg"),
    [
        ({"brief": "x" * 257}, 216100, "brief too long"),
        ({"brief": "字" * 86}, 216100, "brief too long"),  # 258 bytes
        ({"tags": "1,2,3"}, 216100, "invalid param"),
        ({"tags": "0"}, 216100, "invalid param"),
        ({"tags": "65536"}, 216100, "invalid param"),
        ({"tags": "a"}, 216100, "invalid param"),
        ({"tags": "1,"}, 216100, "invalid param"),
        ({"tags": "+1"}, 216100, "invalid param"),
    ],
)
def test_add_field_formats(app: App, fields: dict[str, str], code: int, msg: str) -> None:
    body = app.call("similar", "add", {"image": b64(IMAGE), "brief": "ok", **fields})
    assert_error(body, code, msg)


def test_brief_of_256_bytes_and_spaced_tags_are_fine(app: App) -> None:
    brief = "字" * 85 + "x"  # 256 bytes
    body = app.call("similar", "add", {"image": b64(IMAGE), "brief": brief, "tags": " 5 , 65535 "})
    entry = EngineEntry.objects.get(cont_sign=body["cont_sign"])
    assert (entry.brief, entry.tags) == (brief, (5, 65535))


@pytest.mark.parametrize(
    ("fields", "service"),
    [
        ({"tag_logic": "2"}, "similar"),
        ({"tag_logic": "and"}, "similar"),
        ({"tag_logic": "2"}, "product"),  # validated on product, though without effect
        ({"class_id1": "0"}, "product"),
        ({"class_id2": "70000"}, "product"),
        ({"pn": "-1"}, "similar"),
        ({"pn": "1000"}, "similar"),
        ({"pn": "x"}, "similar"),
        ({"rn": "0"}, "similar"),
        ({"rn": "1001"}, "similar"),
        ({"rn": "1.5"}, "similar"),
    ],
)
def test_search_field_formats(app: App, fields: dict[str, str], service: str) -> None:
    body = app.call(service, "search", {"image": b64(IMAGE), **fields})
    assert_error(body, 216100, "invalid param")


def test_fields_of_other_services_are_ignored(app: App) -> None:
    body = app.call("similar", "add", {"image": b64(IMAGE), "brief": "x", "class_id1": "bad"})
    assert "cont_sign" in body
    body = app.call("product", "add", {"image": b64(IMAGE), "brief": "x", "tags": "bad"})
    assert "cont_sign" in body
    body = app.call(
        "similar", "delete", {"cont_sign": body["cont_sign"], "tags": "bad", "brief": "x" * 300}
    )
    assert set(body) == {"log_id"}


@pytest.mark.parametrize(
    "value",
    ["1", "1,2,3", "a,b", "1 ,2", "4294967296,1", "-1,2", "1,2;3,4", "1;"],
)
def test_update_cont_sign_format(app: App, value: str) -> None:
    body = app.call("similar", "update", {"cont_sign": value, "brief": "x"})
    assert_error(body, 216100, "invalid param")


@pytest.mark.parametrize("value", [";", " ; ;", "1,2;x", "1,2;4294967296,0"])
def test_delete_cont_sign_format(app: App, value: str) -> None:
    assert_error(app.call("similar", "delete", {"cont_sign": value}), 216100, "invalid param")


def test_delete_batch_limit_is_282006(app: App) -> None:
    batch = ";".join(f"{i},{i}" for i in range(101))
    assert_error(
        app.call("similar", "delete", {"cont_sign": batch}), 282006, "batch task limit reached"
    )
    batch = ";".join(f"{i},{i}" for i in range(100)) + ";;"
    assert_error(app.call("similar", "delete", {"cont_sign": batch}), 216680, "item not exist")


def test_invalid_utf8_is_216100(app: App) -> None:
    body = app.call(
        "similar", "add", f"image={b64(IMAGE)}&brief=%FF%FE".replace("+", "%2B").replace("/", "%2F")
    )
    assert_error(body, 216100, "invalid param")


def test_last_repeated_parameter_wins(app: App) -> None:
    image = b64(IMAGE).replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
    body = app.call("similar", "add", f"brief=first&image={image}&brief=second&tags=x&tags=7")
    entry = EngineEntry.objects.get(cont_sign=body["cont_sign"])
    assert (entry.brief, entry.tags) == ("second", (7,))


def test_empty_values_are_absent(app: App) -> None:
    body = app.call(
        "similar", "add", {"image": b64(IMAGE), "brief": "x", "tags": "", "class_id1": ""}
    )
    assert "cont_sign" in body
    body = app.call("similar", "search", {"image": b64(IMAGE), "pn": "", "rn": "", "tags": ""})
    assert body["result_num"] == 1


def test_query_parameters_other_than_the_token_are_ignored(app: App) -> None:
    path = PATHS["similar"].format(op="add") + f"?access_token={app.token}&brief=x&image=y"
    response = app.client.post(path, "", content_type="application/x-www-form-urlencoded")
    assert_error(response.json(), 216101, "not enough param")


def test_multipart_is_accepted(app: App) -> None:
    path = PATHS["similar"].format(op="add") + f"?access_token={app.token}"
    response = app.client.post(path, {"image": b64(IMAGE), "brief": "多部分"})
    body = response.json()
    assert "cont_sign" in body, body
    assert EngineEntry.objects.get(cont_sign=body["cont_sign"]).brief == "多部分"


# ------------------------------------------------------------------ images (step 9, 10)


def encode(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


@pytest.mark.parametrize(
    "value",
    [
        "data:image/png;base64," + b64(IMAGE),
        b64(IMAGE)[:-1],  # bad padding
        b64(IMAGE) + "\n",
        "!!!!",
        b64(b"GIF89a" + b"\0" * 64),
        b64(b"not an image at all"),
    ],
)
def test_image_format_errors(app: App, value: str) -> None:
    body = app.call("similar", "search", {"image": value})
    assert_error(body, 216201, "image format error")


def test_gif_and_webp_are_216201(app: App) -> None:
    image = Image.open(io.BytesIO(IMAGE)).convert("RGB")
    for fmt in ("GIF", "WEBP", "TIFF"):
        body = app.call("similar", "search", {"image": b64(encode(image, fmt))})
        assert_error(body, 216201, "image format error")


def test_jpeg_and_bmp_are_accepted(app: App) -> None:
    image = Image.open(io.BytesIO(IMAGE)).convert("RGB")
    for fmt in ("JPEG", "BMP"):
        assert "cont_sign" in app.call(
            "similar", "add", {"image": b64(encode(image, fmt)), "brief": fmt}
        )


def test_base64_over_4mib_is_216202(app: App) -> None:
    raw = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * (3 * 1024 * 1024 + 8)).decode()
    assert len(raw) > 4 * 1024 * 1024
    assert_error(app.call("similar", "search", {"image": raw}), 216202, "image size error")


def test_zero_bytes_image_is_216200(app: App) -> None:
    assert_error(app.call("similar", "search", {"image": "===="}), 216201, "image format error")


@pytest.mark.parametrize(
    ("service", "size", "ok"),
    [
        ("similar", (50, 50), True),
        ("similar", (49, 200), False),
        ("similar", (4096, 60), True),
        ("similar", (4097, 60), False),
        ("product", (300, 300), True),
        ("product", (299, 400), False),
        ("picturebook", (150, 1500), True),
        ("picturebook", (150, 1501), False),
        ("picturebook", (149, 300), False),
        ("materiel", (20, 400), True),
        ("materiel", (20, 401), False),
        ("materiel", (12, 12), True),
    ],
)
def test_pixel_limits_per_service(app: App, service: str, size: tuple[int, int], ok: bool) -> None:
    body = app.call(service, "search", {"image": b64(picture(3, size=size))})
    if ok:
        assert "result" in body or body.get("error_code") == 216203, body
    else:
        assert_error(body, 216202, "image size error")


def test_pixel_limits_apply_to_delete_by_image(app: App) -> None:
    body = app.call("product", "delete", {"image": b64(picture(3, size=(100, 100)))})
    assert_error(body, 216202, "image size error")


def test_flat_image_is_216203_on_add_and_search(app: App) -> None:
    for op in ("add", "search"):
        body = app.call("similar", op, {"image": b64(flat()), "brief": "x"})
        assert_error(body, 216203, "input image cannot handle")


def test_flat_image_on_delete_is_216203_unless_stored(app: App) -> None:
    assert_error(
        app.call("similar", "delete", {"image": b64(flat())}), 216203, "input image cannot handle"
    )
    assert_error(app.call("similar", "delete", {"image": b64(IMAGE)}), 216680, "item not exist")


# ------------------------------------------------------- order of checks (baidu-wire §8.2)


def test_order_method_before_auth(client: Client) -> None:
    assert_error(
        client.get(PATHS["similar"].format(op="add")).json(), 3, "Unsupported openapi method"
    )


def test_order_auth_before_service(make_app: Any) -> None:
    app = make_app(("similar",))
    response = app.client.post(PATHS["same_hq"].format(op="add") + "?access_token=bad")
    assert_error(response.json(), 110, "Access token invalid or no longer valid")


def test_order_service_before_qps_and_library(make_app: Any) -> None:
    app = make_app(("similar",), qps=1, libraries=())
    assert_error(app.call("product", "add", {}), 6, "No permission to access data")


def test_order_qps_before_library(make_app: Any) -> None:
    app = make_app(("similar",), qps=1, libraries=())
    assert_error(app.call("similar", "add", {}), 216017, "not initialized")
    assert_error(app.call("similar", "add", {}), 18, "Open api qps request limit reached")


def test_order_library_before_presence(make_app: Any) -> None:
    app = make_app(("similar",), libraries=())
    assert_error(app.call("similar", "add", {"brief": "x" * 300}), 216017, "not initialized")


def test_order_selector_before_brief_presence_before_formats(app: App) -> None:
    assert_error(app.call("similar", "add", {"tags": "bad"}), 216101, "not enough param")
    assert_error(
        app.call("similar", "add", {"image": "", "tags": "bad"}), 216101, "not enough param"
    )
    body = app.call("similar", "add", {"image": "", "brief": "x" * 300, "tags": "bad"})
    assert_error(body, 216100, "brief too long")


def test_order_brief_tags_logic_classes_pn_rn(app: App) -> None:
    fields = {
        "image": "",
        "brief": "x" * 300,
        "tags": "bad",
        "tag_logic": "9",
        "class_id1": "0",
        "class_id2": "0",
        "pn": "-1",
        "rn": "0",
        "cont_sign": "bad",
    }
    assert_error(app.call("product", "update", fields), 216100, "brief too long")
    fields["brief"] = "ok"
    assert_error(app.call("similar", "search", fields), 216100, "invalid param")
    fields["tags"] = "1"
    assert_error(app.call("similar", "search", fields), 216100, "invalid param")
    fields["tag_logic"] = "1"
    fields["pn"] = "0"
    assert_error(app.call("similar", "search", fields), 216100, "invalid param")  # rn
    fields["rn"] = "10"
    # All formats fine: the image is next.
    assert_error(app.call("similar", "search", fields), 216200, "empty image")


def test_order_cont_sign_format_only_when_it_is_the_selector(app: App) -> None:
    body = app.call("similar", "delete", {"image": b64(IMAGE), "cont_sign": "bad"})
    assert_error(body, 216680, "item not exist")
    body = app.call("similar", "delete", {"url": "ftp://x", "cont_sign": "bad"})
    assert_error(body, 282111, "url format illegal")


def test_order_formats_before_url_before_image(app: App) -> None:
    body = app.call("similar", "search", {"url": "x" * 1025, "tags": "0"})
    assert_error(body, 216100, "invalid param")
    body = app.call("similar", "search", {"url": "x" * 1025})
    assert_error(body, 282114, "url size error")


def test_url_is_ignored_when_image_is_sent(app: App) -> None:
    body = app.call("similar", "add", {"image": b64(IMAGE), "url": "not a url", "brief": "x"})
    assert "cont_sign" in body


def test_order_image_before_extraction_before_library_state(app: App) -> None:
    app.call("similar", "add", {"image": b64(IMAGE), "brief": "x"})
    tiny = b64(picture(1, size=(20, 20)))
    assert_error(
        app.call("similar", "add", {"image": tiny, "brief": "x"}), 216202, "image size error"
    )
    assert_error(
        app.call("similar", "add", {"image": b64(flat()), "brief": "x"}),
        216203,
        "input image cannot handle",
    )
    assert_error(
        app.call("similar", "add", {"image": b64(IMAGE), "brief": "x"}), 216681, "item exist"
    )


def test_every_call_counts_toward_qps(make_app: Any) -> None:
    app = make_app(("similar",), qps=2)
    assert_error(app.call("similar", "add", {}), 216101, "not enough param")
    assert_error(app.call("similar", "add", {"image": "!"}), 216101, "not enough param")
    assert_error(app.call("similar", "add", {}), 18, "Open api qps request limit reached")
    # Counted per interface: search has its own window.
    assert_error(app.call("similar", "search", {}), 216101, "not enough param")


def test_database_unavailable_is_2(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    from django.db import OperationalError

    def locked(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("database is locked")

    monkeypatch.setattr(views.store, "entry_add", locked)
    body = app.call("similar", "add", {"image": b64(IMAGE), "brief": "x"})
    assert_error(body, 2, "Service temporarily unavailable")


def test_html_answers_from_django_become_wire_json(client: Client, settings: Any) -> None:
    settings.MIDDLEWARE = ["engine.middleware.WireJsonMiddleware", *settings.MIDDLEWARE]
    response = client.post(PATHS["similar"].format(op="add"), HTTP_HOST="not-allowed.example")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json;charset=utf-8"
    assert_error(response.json(), 282000, "internal error")
    response = client.get("/oauth/2.0/token", HTTP_HOST="not-allowed.example")
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request", "error_description": "HTTP 400"}
    # Other paths are left alone.
    assert client.get("/rest/2.0x", HTTP_HOST="not-allowed.example")["Content-Type"].startswith(
        "text/html"
    )


def test_body_over_the_upload_limit_is_216202_after_the_library_check(
    make_app: Any, settings: Any
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    app = make_app(("similar", "product"), libraries=("similar",))
    big = {"image": "A" * 2000, "brief": "x"}
    assert_error(app.call("product", "add", big), 216017, "not initialized")
    assert_error(app.call("similar", "add", big), 216202, "image size error")
