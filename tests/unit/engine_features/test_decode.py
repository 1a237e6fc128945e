"""decode(): format allow-list by content, EXIF orientation, truncation, bombs."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from engine.features.decode import ImageRejected, decode

from .conftest import encode, noise_image


def halves(width: int = 40, height: int = 20) -> np.ndarray:
    """Left half red, right half blue."""
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[:, : width // 2] = (255, 0, 0)
    rgb[:, width // 2 :] = (0, 0, 255)
    return rgb


@pytest.mark.parametrize(("fmt", "name"), [("PNG", "PNG"), ("JPEG", "JPEG"), ("BMP", "BMP")])
def test_accepted_formats_are_detected_from_content(fmt: str, name: str) -> None:
    rgb = noise_image(1, (60, 80))
    d = decode(encode(rgb, fmt))
    assert (d.format, d.width, d.height) == (name, 80, 60)
    assert d.rgb.shape == (60, 80, 3) and d.rgb.dtype == np.uint8
    if fmt != "JPEG":
        assert np.array_equal(d.rgb, rgb)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "TIFF", "ICO"])
def test_other_formats_are_a_format_error(fmt: str) -> None:
    with pytest.raises(ImageRejected) as err:
        decode(encode(noise_image(2, (64, 64)), fmt))
    assert (err.value.error_code, err.value.error_msg) == (216201, "image format error")


def test_exif_orientation_is_applied() -> None:
    im = Image.fromarray(halves())
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=95, exif=exif.tobytes())
    d = decode(buf.getvalue())
    assert (d.width, d.height) == (20, 40)
    # The left (red) edge ends up on top once rotated clockwise.
    assert d.rgb[2, 10, 0] > 200 and d.rgb[2, 10, 2] < 60
    assert d.rgb[37, 10, 2] > 200 and d.rgb[37, 10, 0] < 60


def test_truncated_file_is_a_format_error() -> None:
    data = encode(noise_image(3, (200, 200)), "JPEG", quality=90)
    with pytest.raises(ImageRejected) as err:
        decode(data[: len(data) // 2])
    assert err.value.error_code == 216201


@pytest.mark.parametrize(
    "data", [b"", b"hello", b"\x89PNG\r\n\x1a\n" + b"\0" * 40, b"BM" + b"x" * 60]
)
def test_garbage_is_a_format_error(data: bytes) -> None:
    with pytest.raises(ImageRejected) as err:
        decode(data)
    assert err.value.error_code == 216201


def test_decompression_bomb_is_refused_before_decoding() -> None:
    # 5000 x 5000 grey PNG: ~25 KB on disk, 25 Mpx once decoded (> 4096 x 4096).
    data = encode(Image.new("L", (5000, 5000)), "PNG", optimize=True)
    assert len(data) < 100_000
    with pytest.raises(ImageRejected) as err:
        decode(data)
    assert (err.value.error_code, err.value.error_msg) == (216202, "image size error")


def test_transparency_is_composited_on_white() -> None:
    rgba = np.zeros((10, 10, 4), np.uint8)  # fully transparent black
    d = decode(encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert (d.rgb == 255).all()


@pytest.mark.parametrize("mode", ["L", "P", "I;16", "1", "LA"])
def test_any_png_mode_becomes_rgb(mode: str) -> None:
    im = Image.fromarray(noise_image(4, (30, 30))).convert(mode)
    d = decode(encode(im, "PNG"))
    assert d.rgb.shape == (30, 30, 3)
