"""Low-texture pictures through the wire (issue 15): only one flat colour is 216203; a soft
gradient or stripes are stored by every service, and same_hq / picturebook find them by
their copies and return nothing for another gradient."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from wire.baidu import SERVICES

from .enginekit import App, assert_error, b64

pytestmark = pytest.mark.django_db


def png(rgb: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format="PNG")
    return out.getvalue()


def jpeg(rgb: np.ndarray, quality: int = 85) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format="JPEG", quality=quality)
    return out.getvalue()


def gradient(a: tuple[int, int, int], b: tuple[int, int, int]) -> np.ndarray:
    t = np.linspace(0.0, 1.0, 600, dtype=np.float32)[None, :, None]
    lo, hi = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return np.broadcast_to(lo + (hi - lo) * t, (400, 600, 3)).round().astype(np.uint8)


def stripes() -> np.ndarray:
    # Soft colour stripes at one luminance: the grey picture is flat (refused before).
    x = np.arange(600, dtype=np.float32)
    s = np.sin(x / 30.0)[None, :, None]
    rgb = np.asarray((150, 140, 130), np.float32) + s * np.asarray((30, -18, 20), np.float32)
    return np.broadcast_to(rgb, (400, 600, 3)).round().astype(np.uint8)


SKY = gradient((60, 110, 200), (200, 220, 250))


@pytest.mark.parametrize("service", SERVICES)
def test_gradients_and_stripes_are_accepted_by_every_service(app: App, service: str) -> None:
    for name, image in (("sky", jpeg(SKY)), ("stripes", jpeg(stripes()))):
        added = app.call(service, "add", {"image": b64(image), "brief": name})
        assert "cont_sign" in added, (name, added)
        body = app.call(service, "search", {"image": b64(image)})
        assert "result" in body, (name, body)


@pytest.mark.parametrize("service", SERVICES)
def test_one_jpeg_compressed_colour_is_still_216203(app: App, service: str) -> None:
    flat = jpeg(np.full((400, 600, 3), (200, 40, 90), np.uint8), quality=30)
    for op in ("add", "search"):
        body = app.call(service, op, {"image": b64(flat), "brief": "x"})
        assert_error(body, 216203, "input image cannot handle")


@pytest.mark.parametrize("service", ["same_hq", "picturebook"])
def test_a_stored_gradient_is_found_by_its_copies_and_not_by_another(
    app: App, service: str
) -> None:
    stored = app.call(service, "add", {"image": b64(png(SKY)), "brief": "sky"})
    app.call(service, "add", {"image": b64(png(stripes())), "brief": "stripes"})
    half = np.asarray(Image.fromarray(SKY).resize((300, 200), Image.Resampling.BILINEAR))
    for copy in (jpeg(SKY, quality=30), jpeg(half)):
        body = app.call(service, "search", {"image": b64(copy)})
        assert [hit["cont_sign"] for hit in body["result"]] == [stored["cont_sign"]]
    other = gradient((70, 120, 205), (210, 228, 252))  # another, slightly paler sky
    assert app.call(service, "search", {"image": b64(jpeg(other))})["result"] == []
