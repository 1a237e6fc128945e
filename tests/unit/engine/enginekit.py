"""Helpers for the engine's unit tests: images, applications and wire calls."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import cv2
import numpy as np
import pytest
from django.test import Client
from PIL import Image

PATHS = {
    "same_hq": "/rest/2.0/realtime_search/same_hq/{op}",
    "similar": "/rest/2.0/image-classify/v1/realtime_search/similar/{op}",
    "product": "/rest/2.0/image-classify/v1/realtime_search/product/{op}",
    "picturebook": "/rest/2.0/imagesearch/v1/realtime_search/picturebook/{op}",
    "materiel": "/rest/2.0/image-classify/v1/realtime_search/materiel/{op}",
}


def picture(seed: int, size: tuple[int, int] = (320, 240), fmt: str = "PNG") -> bytes:
    """A synthetic scene (gradient, shapes, texture) that differs from seed to seed."""
    rng = np.random.default_rng(seed)
    width, height = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = rng.uniform(0, 255, 3)
    slope = rng.uniform(-0.5, 0.5, (2, 3))
    img = base + x[..., None] * slope[0] + y[..., None] * slope[1]
    img = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(12):
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            p1 = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            p2 = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            cv2.rectangle(img, p1, p2, color, -1)
        else:
            center = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            cv2.circle(img, center, int(rng.integers(5, max(6, width // 4))), color, -1)
    noise = rng.normal(0, 12, img.shape)
    img = np.clip(img + noise, 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(img).save(out, format=fmt)
    return out.getvalue()


def flat(
    size: tuple[int, int] = (200, 200), color: tuple[int, int, int] = (120, 130, 140)
) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class App:
    app_id: str
    api_key: str
    secret_key: str
    client: Client
    _token: str | None = None

    @property
    def token(self) -> str:
        if self._token is None:
            response = self.client.get(
                "/oauth/2.0/token",
                {
                    "grant_type": "client_credentials",
                    "client_id": self.api_key,
                    "client_secret": self.secret_key,
                },
            )
            assert response.status_code == 200, response.content
            self._token = response.json()["access_token"]
        return self._token

    def call(self, service: str, op: str, data: dict[str, Any] | str | bytes, **extra: Any) -> Any:
        """POST a form to the API path with this app's token; returns the JSON body."""
        path = PATHS[service].format(op=op) + "?access_token=" + self.token
        response = self.client.post(
            path,
            data if isinstance(data, str | bytes) else _form(data),
            content_type="application/x-www-form-urlencoded",
            **extra,
        )
        assert response.status_code == 200
        assert response["Content-Type"] == "application/json;charset=utf-8"
        body = response.json()
        assert isinstance(body["log_id"], int) and 0 < body["log_id"] < 2**53
        return body


def _form(data: dict[str, Any]) -> str:
    return urlencode({k: v for k, v in data.items() if v is not None})


def assert_error(body: dict[str, Any], code: int, msg: str) -> None:
    """Exact error shape: log_id, error_code (int) and error_msg, nothing else."""
    assert body == {"log_id": body.get("log_id"), "error_code": code, "error_msg": msg}
    assert type(body["error_code"]) is int


def signed_headers(
    api_key: str, secret_key: str, path: str, query: dict[str, str], host: str = "127.0.0.1"
) -> dict[str, str]:
    """Headers exactly as the official SDK signs them (its own code computes them)."""
    from aip import AipImageSearch

    sdk = AipImageSearch("1", api_key, secret_key)
    sdk._isCloudUser = True
    headers = sdk._getAuthHeaders("POST", f"http://{host}:8000{path}", dict(query), {})
    return {
        "HTTP_HOST": headers["Host"],
        "HTTP_X_BCE_DATE": headers["x-bce-date"],
        "HTTP_AUTHORIZATION": headers["authorization"],
    }


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v)).astype(np.float32)


def store_entry(
    library: Any,
    vectors: np.ndarray,
    *,
    key: str,
    tags: tuple[int, ...] | None = None,
    class_ids: tuple[int | None, int | None] = (None, None),
    brief: str | None = None,
) -> str:
    """Store an entry with chosen vectors through the store (bypassing the wire and the
    model), so a test can place exact cosines. Returns its cont_sign."""
    from engine import params, store
    from engine.features.decode import Decoded
    from engine.features.extract import Features

    data = key.encode()
    rgb = np.zeros((8, 8, 3), np.uint8)
    sign = params.cont_sign_of(data)
    store.entry_add(
        library=library,
        data=data,
        image=Decoded(format="PNG", width=8, height=8, rgb=rgb),
        features=Features(vectors=np.atleast_2d(vectors), local=None),
        brief=brief if brief is not None else key,
        labels=store.Labels(tags=tags, class_id1=class_ids[0], class_id2=class_ids[1]),
        cont_sign=sign,
    )
    return sign


def at_cosine(query: np.ndarray, cosine: float, seed: int) -> np.ndarray:
    """A unit vector whose cosine with the unit vector `query` is exactly `cosine`."""
    rng = np.random.default_rng(seed)
    other = rng.normal(size=query.shape).astype(np.float32)
    other -= other.dot(query) * query
    other = unit(other)
    return unit(cosine * query + np.sqrt(max(0.0, 1 - cosine**2)) * other)


def frozen_now(monkeypatch: pytest.MonkeyPatch, when: str) -> None:
    """Freeze the engine's notion of "now" (the auth module's clock)."""
    moment = datetime.strptime(when, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    from engine import auth

    monkeypatch.setattr(auth.timezone, "now", lambda: moment)
