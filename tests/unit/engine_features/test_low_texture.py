"""Pictures with little or no texture (issue 15): only one colour is "no content" (216203);
gradients, soft stripes, blurred photos and transparent overlays are stored by every service,
and same_hq / picturebook match them by near-identity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from engine.features import local as lf
from engine.features.decode import ImageRejected, decode, no_content
from engine.features.extract import extract, extract_many
from wire.baidu import SERVICES

from .conftest import encode
from .test_features import VERIFIED, search, stored


def gradient(a: tuple[int, int, int], b: tuple[int, int, int], size: tuple[int, int] = (400, 600)):
    """A two-colour gradient, left to right."""
    h, w = size
    t = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :, None]
    lo, hi = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return np.broadcast_to(lo + (hi - lo) * t, (h, w, 3)).round().astype(np.uint8)


def isoluminant_gradient() -> np.ndarray:
    # Red-grey to green-grey at (almost) the same luminance: the grey picture is flat, the
    # colour picture is not (the old rule, grey standard deviation < 2, refused it).
    return gradient((180, 120, 120), (100, 160, 140))


def overlay_stripes() -> bytes:
    """White soft stripes whose picture is all in the alpha channel (mate's Stripes-Light)."""
    h, w = 360, 480
    x = np.arange(w, dtype=np.float32)
    alpha = (60 + 50 * np.sin(x / 25.0)).astype(np.uint8)
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[..., :3] = 255
    rgba[..., 3] = alpha[None, :]
    return encode(Image.fromarray(rgba, "RGBA"), "PNG")


def blurred(photo: Path) -> np.ndarray:
    im = Image.open(photo).convert("RGB")
    im.thumbnail((800, 800))
    return np.asarray(im.filter(ImageFilter.GaussianBlur(40)))


@pytest.mark.parametrize("service", SERVICES)
def test_a_soft_colour_gradient_is_accepted_by_every_service(service: str) -> None:
    image = decode(encode(isoluminant_gradient(), "JPEG", quality=85))
    assert extract(service, image).vectors.shape == (1, 256)
    assert not isinstance(extract_many(service, [image])[0], ImageRejected)


@pytest.mark.parametrize("service", SERVICES)
def test_stripes_drawn_in_the_alpha_channel_are_accepted_by_every_service(service: str) -> None:
    image = decode(overlay_stripes())
    assert not no_content(image.rgb)  # shown on black, not as a blank white page
    assert extract(service, image).vectors.shape == (1, 256)
    assert not isinstance(extract_many(service, [image])[0], ImageRejected)


@pytest.mark.parametrize("service", VERIFIED)
def test_a_blurred_photo_without_corners_is_stored_and_searchable(
    service: str, photos: list[Path]
) -> None:
    image = decode(encode(blurred(photos[0]), "JPEG", quality=90))
    entry = stored(service, image_bytes := encode(image.rgb, "PNG"))
    assert entry.local is not None
    assert len(lf.parse(entry.local).xy) < lf.MIN_KEYPOINTS
    query = extract(service, decode(image_bytes))
    assert [e for e, _ in search(service, query, {1: entry})] == [1]


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("quality", [30, 75, 95])
def test_one_flat_colour_even_jpeg_compressed_is_still_refused(service: str, quality: int) -> None:
    flat = decode(encode(np.full((480, 640, 3), (40, 120, 220), np.uint8), "JPEG", quality=quality))
    with pytest.raises(ImageRejected) as err:
        extract(service, flat)
    assert err.value.error_code == 216203
    assert isinstance(extract_many(service, [flat])[0], ImageRejected)


def test_a_white_picture_with_an_empty_alpha_channel_has_no_content() -> None:
    rgba = np.zeros((100, 100, 4), np.uint8)
    rgba[..., :3] = 255
    image = decode(encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert no_content(image.rgb) and int(image.rgb.min()) == 255


def test_an_empty_keypoint_set_serializes_and_verifies_to_nothing() -> None:
    kp = lf.detect(lf.grey(gradient((0, 0, 0), (255, 255, 255))), lf.STORED_KEYPOINTS)
    assert len(kp.xy) == 0
    back = lf.parse(lf.serialize(kp))
    assert back.xy.shape == (0, 2) and back.desc.shape == (0, 32)
    assert np.array_equal(back.thumb, kp.thumb)
    assert lf.QueryMatcher(back).inliers(back) == 0


@pytest.mark.parametrize("service", VERIFIED)
def test_a_low_texture_image_is_found_by_its_recompressed_and_resized_copies(service: str) -> None:
    original = gradient((60, 110, 200), (200, 220, 250))
    entries = {
        1: stored(service, encode(original, "PNG")),
        2: stored(service, encode(isoluminant_gradient(), "PNG")),
        3: stored(service, overlay_stripes()),
    }
    half = np.asarray(Image.fromarray(original).resize((300, 200), Image.Resampling.BILINEAR))
    for data in (encode(original, "JPEG", quality=30), encode(half, "JPEG", quality=80)):
        out = search(service, extract(service, decode(data)), entries)
        assert [e for e, _ in out] == [1] and out[0][1] >= 0.9


@pytest.mark.parametrize("service", VERIFIED)
def test_an_unrelated_low_texture_query_returns_nothing(service: str) -> None:
    entries = {
        1: stored(service, encode(gradient((60, 110, 200), (200, 220, 250)), "PNG")),
        2: stored(service, encode(isoluminant_gradient(), "PNG")),
        3: stored(service, overlay_stripes()),
    }
    # Same direction, a slightly different sky: correlates > 0.99 with entry 1, but is
    # another picture.
    query = extract(service, decode(encode(gradient((70, 120, 205), (210, 228, 252)), "JPEG")))
    assert search(service, query, entries) == []
