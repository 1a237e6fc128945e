"""Every method of the official `AipImageSearch` against a live engine, in token mode and in
signing mode, and every error the engine emits, with exact JSON shapes."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from unittest.mock import ANY

import pytest
import requests

from .conftest import SERVICES, Credentials, Engine, ImageServer, b64, sdk

pytestmark = pytest.mark.conformance


def cont_sign(data: bytes) -> str:
    d = hashlib.sha256(data).digest()
    return f"{int.from_bytes(d[0:4], 'big')},{int.from_bytes(d[4:8], 'big')}"


def is_error(body: dict[str, Any], code: int, msg: str) -> None:
    assert set(body) == {"log_id", "error_code", "error_msg"}, body
    assert type(body["error_code"]) is int and type(body["log_id"]) is int
    assert (body["error_code"], body["error_msg"]) == (code, msg)


def is_ok(body: dict[str, Any]) -> None:
    assert set(body) == {"log_id"}, body
    assert type(body["log_id"]) is int and 0 < body["log_id"] < 2**53


# ------------------------------------------------------------------ the SDK's methods


@dataclass(frozen=True)
class Methods:
    """Names of one service's ten SDK methods (the SDK is not uniform across services)."""

    add: str
    add_url: str
    search: str
    search_url: str
    update: str
    update_url: str
    update_sign: str
    delete_image: str
    delete_url: str
    delete_sign: str


def _standard(prefix: str) -> Methods:
    return Methods(
        add=f"{prefix}Add",
        add_url=f"{prefix}AddUrl",
        search=f"{prefix}Search",
        search_url=f"{prefix}SearchUrl",
        update=f"{prefix}Update",
        update_url=f"{prefix}UpdateUrl",
        update_sign=f"{prefix}UpdateContSign",
        delete_image=f"{prefix}DeleteByImage",
        delete_url=f"{prefix}DeleteByUrl",
        delete_sign=f"{prefix}DeleteBySign",
    )


METHODS = {
    "same_hq": _standard("sameHq"),
    "similar": _standard("similar"),
    "product": _standard("product"),
    "materiel": _standard("materiel"),
    "picturebook": Methods(
        add="pictureBookAddImage",
        add_url="pictureBookAddUrl",
        search="pictureBookSearchImage",
        search_url="pictureBookSearchUrl",
        update="pictureBookUpdate",
        update_url="pictureBookUpdateUrl",
        update_sign="pictureBookUpdateContSign",
        delete_image="pictureBookDeleteByImage",
        delete_url="pictureBookDeleteByUrl",
        delete_sign="pictureBookDeleteBySign",
    ),
}


def test_the_table_covers_every_sdk_method() -> None:
    from aip import AipImageSearch

    public = {
        name
        for name, value in vars(AipImageSearch).items()
        if callable(value) and not name.startswith("_")
    }
    covered = {name for methods in METHODS.values() for name in vars(methods).values()}
    assert public == covered
    assert len(public) == 50


class Client:
    """Calls one service through the SDK; materiel's update methods take `brief` positionally."""

    def __init__(self, raw: Any, service: str) -> None:
        self.raw, self.service, self.m = raw, service, METHODS[service]

    def _call(self, name: str, *args: Any) -> Any:
        result = getattr(self.raw, name)(*args)
        assert isinstance(result, dict)
        return result

    def add(self, image: bytes, brief: str, options: dict[str, Any] | None = None) -> Any:
        return self._call(self.m.add, image, brief, options or {})

    def add_url(self, url: str, brief: str, options: dict[str, Any] | None = None) -> Any:
        return self._call(self.m.add_url, url, brief, options or {})

    def search(self, image: bytes, options: dict[str, Any] | None = None) -> Any:
        return self._call(self.m.search, image, options or {})

    def search_url(self, url: str, options: dict[str, Any] | None = None) -> Any:
        return self._call(self.m.search_url, url, options or {})

    def _update(self, name: str, target: Any, brief: str, options: dict[str, Any]) -> Any:
        if self.service == "materiel":
            return self._call(name, target, brief, options)
        return self._call(name, target, {"brief": brief, **options})

    def update(self, image: bytes, brief: str, options: dict[str, Any] | None = None) -> Any:
        return self._update(self.m.update, image, brief, options or {})

    def update_url(self, url: str, brief: str, options: dict[str, Any] | None = None) -> Any:
        return self._update(self.m.update_url, url, brief, options or {})

    def update_sign(self, sign: str, brief: str, options: dict[str, Any] | None = None) -> Any:
        return self._update(self.m.update_sign, sign, brief, options or {})

    def delete_image(self, image: bytes) -> Any:
        return self._call(self.m.delete_image, image, {})

    def delete_url(self, url: str) -> Any:
        return self._call(self.m.delete_url, url, {})

    def delete_sign(self, sign: str) -> Any:
        return self._call(self.m.delete_sign, sign, {})


def labels(service: str, *values: int) -> dict[str, str]:
    if service == "product":
        return {f"class_id{i + 1}": str(v) for i, v in enumerate(values)}
    return {"tags": ",".join(str(v) for v in values)}


@pytest.fixture(scope="module")
def token_app(engine: Engine) -> Credentials:
    return engine.app()


@pytest.fixture(scope="module")
def signing_app(engine: Engine) -> Credentials:
    return engine.app(signing_only=True)


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("mode", ["token", "signing"])
def test_every_method(
    engine: Engine,
    images: ImageServer,
    photos: list[bytes],
    token_app: Credentials,
    signing_app: Credentials,
    service: str,
    mode: str,
) -> None:
    creds = token_app if mode == "token" else signing_app
    raw = sdk(engine, creds)
    client = Client(raw, service)
    offset = SERVICES.index(service) * 4 + (20 if mode == "signing" else 0)
    rotated = photos[offset % len(photos) :] + photos[: offset % len(photos)]
    # Photos with too little texture for this service (216203) are legitimately refused.
    usable = (p for p in rotated if client.search(p).get("error_code") != 216203)
    a, b, c, d = (next(usable) for _ in range(4))
    url_b = images.url(f"{mode}-{service}-b.jpg", b)

    # add: by image and by url; the cont_sign is the engine's derivation (baidu-wire §5.8).
    added = client.add(a, "brief a", labels(service, 1, 2))
    assert added == {"log_id": added["log_id"], "cont_sign": cont_sign(a)}
    # The mode really is the one under test.
    assert raw._isCloudUser is (mode == "signing")
    added_b = client.add_url(url_b, '{"name":"周杰伦","id":"666"}', labels(service, 3))
    assert added_b == {"log_id": added_b["log_id"], "cont_sign": cont_sign(b)}
    is_error(client.add(a, "again"), 216681, "item exist")

    # search: by image and by url; the exact copy first with score 1.0.
    for found in (client.search(a), client.search_url(images.url(f"{mode}-{service}-a.jpg", a))):
        assert set(found) == {"log_id", "result_num", "result", "has_more"}
        assert found["has_more"] is False
        assert found["result_num"] == len(found["result"]) >= 1
        assert found["result"][0] == {"cont_sign": cont_sign(a), "score": 1.0, "brief": "brief a"}
        scores = [hit["score"] for hit in found["result"]]
        assert scores == sorted(scores, reverse=True)
    found = client.search(b, {"pn": 0, "rn": 1, **labels(service, 3)})
    assert found["result"] == [
        {"cont_sign": cont_sign(b), "score": 1.0, "brief": '{"name":"周杰伦","id":"666"}'}
    ]
    assert client.search(a, labels(service, 9))["result"] == []

    # update: by image, by url and by cont_sign.
    is_ok(client.update(a, "brief a2"))
    is_ok(client.update_url(url_b, "brief b2"))
    is_ok(client.update_sign(cont_sign(a), "brief a3", labels(service, 4)))
    hit = client.search(a, labels(service, 4))["result"][0]
    assert (hit["cont_sign"], hit["brief"]) == (cont_sign(a), "brief a3")
    is_error(client.update_sign("1,2", "x"), 216680, "item not exist")

    # delete: by image, by url and a batch by cont_sign with a missing member.
    for photo, brief in ((c, "brief c"), (d, "brief d")):
        assert client.add(photo, brief) == {"log_id": ANY, "cont_sign": cont_sign(photo)}
    is_ok(client.delete_image(a))
    is_ok(client.delete_url(url_b))
    is_ok(client.delete_sign(f"{cont_sign(c)};1,2;{cont_sign(d)}"))
    is_error(client.delete_sign(cont_sign(c)), 216680, "item not exist")
    for photo in (a, b, c, d):
        assert client.search(photo) == {
            "log_id": ANY,
            "result_num": 0,
            "result": [],
            "has_more": False,
        }


# ------------------------------------------------------------------ errors through the SDK


@pytest.fixture(scope="module")
def errors_app(engine: Engine) -> Credentials:
    return engine.app()


@pytest.fixture(scope="module")
def raw(engine: Engine, errors_app: Credentials) -> Any:
    return sdk(engine, errors_app)


def test_parameter_errors(raw: Any, photos: list[bytes], images: ImageServer) -> None:
    photo = photos[-1]
    flat = _flat()
    cases: list[tuple[Callable[[], Any], int, str]] = [
        (lambda: raw.similarAdd(photo, ""), 216101, "not enough param"),
        (lambda: raw.similarSearch(photo, {"image": ""}), 216200, "empty image"),
        (lambda: raw.similarAdd(photo, "x" * 257), 216100, "brief too long"),
        (lambda: raw.similarAdd(photo, "x", {"tags": "1,2,3"}), 216100, "invalid param"),
        (lambda: raw.similarSearch(photo, {"tag_logic": 2}), 216100, "invalid param"),
        (lambda: raw.productSearch(photo, {"class_id1": 0}), 216100, "invalid param"),
        (lambda: raw.similarSearch(photo, {"pn": 1000}), 216100, "invalid param"),
        (lambda: raw.similarSearch(photo, {"rn": 0}), 216100, "invalid param"),
        (lambda: raw.similarUpdateContSign("1,2;3,4", {"brief": "x"}), 216100, "invalid param"),
        (
            lambda: raw.similarDeleteBySign(";".join(f"{i},{i}" for i in range(101))),
            282006,
            "batch task limit reached",
        ),
        (lambda: raw.similarSearch(b"GIF89a" + b"\0" * 100), 216201, "image format error"),
        (
            lambda: raw.similarSearch(photo, {"image": "data:image/png;base64," + b64(photo)}),
            216201,
            "image format error",
        ),
        (
            lambda: raw.similarSearch(b"\xff\xd8\xff" + b"\0" * (3 * 2**20)),
            216202,
            "image size error",
        ),
        (lambda: raw.productSearch(_small()), 216202, "image size error"),
        (lambda: raw.similarAdd(flat, "flat"), 216203, "input image cannot handle"),
        (lambda: raw.similarSearch(flat), 216203, "input image cannot handle"),
        (lambda: raw.similarSearchUrl(""), 282114, "url size error"),
        (lambda: raw.similarSearchUrl("http://x/" + "a" * 1020), 282114, "url size error"),
        (lambda: raw.similarSearchUrl("ftp://example.com/a.jpg"), 282111, "url format illegal"),
        (lambda: raw.similarSearchUrl(f"{images.base}/missing"), 282113, "url response invalid"),
        (lambda: raw.similarDeleteByImage(photo), 216680, "item not exist"),
    ]
    for call, code, msg in cases:
        is_error(call(), code, msg)


def test_url_download_timeout(raw: Any, images: ImageServer) -> None:
    started = time.monotonic()
    is_error(raw.similarSearchUrl(f"{images.base}/slow"), 282112, "url download timeout")
    assert time.monotonic() - started < 11


def _flat() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (400, 400), (90, 120, 150)).save(out, "PNG")
    return out.getvalue()


def _small() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.effect_noise((200, 200), 60).convert("RGB").save(out, "PNG")
    return out.getvalue()


def test_service_not_enabled_and_library_missing(engine: Engine, photos: list[bytes]) -> None:
    creds = engine.app(("similar", "product"), libraries=("similar",))
    client = sdk(engine, creds)
    is_error(client.sameHqSearch(photos[0]), 6, "No permission to access data")
    is_error(client.productSearch(photos[0]), 216017, "not initialized")


def test_qps_limit(engine: Engine) -> None:
    # Cheap calls (no image work), so both land well inside one second even on a busy machine;
    # failed calls count too (baidu-wire §8.2 step 4).
    client = sdk(engine, engine.app(("similar",), qps=1))
    is_error(client.similarDeleteBySign("1,2"), 216680, "item not exist")
    is_error(client.similarDeleteBySign("1,2"), 18, "Open api qps request limit reached")
    assert "result" not in client.similarSearch(b"")  # another interface, its own window
    time.sleep(1.1)
    is_error(client.similarDeleteBySign("1,2"), 216680, "item not exist")


def test_capacity_limit(engine: Engine, photos: list[bytes]) -> None:
    creds = engine.app(("similar",), capacity=1)
    client = sdk(engine, creds)
    assert "cont_sign" in client.similarAdd(photos[0], "one")
    is_error(client.similarAdd(photos[1], "two"), 19, "Open api total request limit reached")
    out = engine.manage(
        "engine_library",
        "set-capacity",
        "--app-id",
        creds.app_id,
        "--service",
        "similar",
        "--capacity",
        "2",
    )
    assert "1 / 2" in out
    assert "cont_sign" in client.similarAdd(photos[1], "two")


def test_wrong_secret_falls_back_to_signing_and_gets_14(
    engine: Engine, errors_app: Credentials, photos: list[bytes]
) -> None:
    client = sdk(engine, Credentials(errors_app.app_id, errors_app.api_key, "0" * 32))
    is_error(client.similarSearch(photos[0]), 14, "IAM Certification failed")
    assert client._isCloudUser is True


def test_stale_token_is_refreshed_once_by_the_sdk(
    engine: Engine, errors_app: Credentials, photos: list[bytes]
) -> None:
    client = sdk(engine, errors_app)
    assert "result" in client.similarSearch(photos[0])
    client._authObj["access_token"] = "24.stale"  # the SDK retries a 110 with a new token
    assert "result" in client.similarSearch(photos[0])
    assert client._authObj["access_token"] != "24.stale"


def test_expired_token_is_111_and_not_retried(
    engine: Engine, errors_app: Credentials, photos: list[bytes]
) -> None:
    client = sdk(engine, errors_app)
    assert "result" in client.similarSearch(photos[0])
    token = client._authObj["access_token"]
    digest = hashlib.sha256(token.encode()).hexdigest()
    engine.shell(
        "from django.utils import timezone; from engine.models import EngineToken; "
        f"EngineToken.objects.filter(digest='{digest}').update(expires_at=timezone.now())"
    )
    is_error(client.similarSearch(photos[0]), 111, "Access token expired")


def test_raw_wire_errors(engine: Engine, errors_app: Credentials) -> None:
    add = f"{engine.base}/rest/2.0/realtime_search/same_hq/add"

    def body(response: requests.Response) -> Any:
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/json;charset=utf-8"
        return response.json()

    is_error(body(requests.get(add, timeout=10)), 3, "Unsupported openapi method")
    is_error(body(requests.post(add + "/", timeout=10)), 3, "Unsupported openapi method")
    is_error(
        body(requests.post(f"{engine.base}/rest/2.0/nothing/here", timeout=10)),
        3,
        "Unsupported openapi method",
    )
    is_error(body(requests.post(add, timeout=10)), 100, "Invalid parameter")
    is_error(body(requests.post(add + "?access_token=", timeout=10)), 100, "Invalid parameter")
    is_error(
        body(requests.post(add + "?access_token=24.x", timeout=10)),
        110,
        "Access token invalid or no longer valid",
    )


def test_token_endpoint(engine: Engine, errors_app: Credentials, signing_app: Credentials) -> None:
    url = f"{engine.base}/oauth/2.0/token"
    ok = requests.get(
        url,
        params={
            "grant_type": "client_credentials",
            "client_id": errors_app.api_key,
            "client_secret": errors_app.secret_key,
        },
        timeout=10,
    )
    assert ok.status_code == 200
    token = ok.json()
    assert token["expires_in"] == 2592000 and "brain_all_scope" in token["scope"].split()
    posted = requests.post(
        url,
        data={
            "grant_type": "client_credentials",
            "client_id": signing_app.api_key,
            "client_secret": signing_app.secret_key,
        },
        timeout=10,
    )
    assert "brain_all_scope" not in posted.json()["scope"].split()
    for params, status, expected in [
        (
            {"client_id": "x"},
            400,
            {
                "error": "unsupported_grant_type",
                "error_description": "The authorization grant type is not supported",
            },
        ),
        (
            {"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"},
            401,
            {"error": "invalid_client", "error_description": "unknown client id"},
        ),
        (
            {"grant_type": "client_credentials", "client_id": errors_app.api_key},
            401,
            {"error": "invalid_client", "error_description": "Client authentication failed"},
        ),
    ]:
        response = requests.get(url, params=params, timeout=10)
        assert (response.status_code, response.json()) == (status, expected)


def test_read_your_writes_across_worker_processes(engine: Engine, photos: list[bytes]) -> None:
    # gunicorn balances connections over two processes; a fresh connection per call makes
    # consecutive calls land on either. Every add must be visible to the next search.
    creds = engine.app(("similar",))
    client = sdk(engine, creds)
    for i, photo in enumerate(photos[:8]):
        assert client.similarAdd(photo, f"p{i}")["cont_sign"] == cont_sign(photo)
        client.s = requests.session()  # new connection: possibly the other worker
        assert client.similarSearch(photo)["result"][0]["brief"] == f"p{i}"
        client.similarDeleteBySign(cont_sign(photo))
        client.s = requests.session()
        hits = client.similarSearch(photo)["result"]
        assert all(hit["cont_sign"] != cont_sign(photo) for hit in hits)
