"""Upload checks and the thumbnail made from the same decode."""

from __future__ import annotations

import io

from PIL import Image as PILImage

from gallery import images
from tests.conftest import make_image


def decoded(data: bytes) -> PILImage.Image:
    picture = PILImage.open(io.BytesIO(data))
    picture.load()
    return picture


def test_the_thumbnail_is_a_small_jpeg_only_when_asked() -> None:
    data = make_image(1, (1200, 600))
    assert images.inspect(data, "same_hq").thumbnail is None
    facts = images.inspect(data, "same_hq", thumbnail=True)
    small = decoded(facts.thumbnail or b"")
    assert (small.format, small.size) == ("JPEG", (320, 160))
    assert (facts.width, facts.height, facts.format) == (1200, 600, "JPEG")


def test_the_thumbnail_follows_exif_orientation() -> None:
    picture = decoded(make_image(2, (400, 200)))
    exif = PILImage.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when shown
    out = io.BytesIO()
    picture.save(out, "JPEG", exif=exif.tobytes())
    small = decoded(images.inspect(out.getvalue(), "same_hq", thumbnail=True).thumbnail or b"")
    assert small.size == (160, 320)


def test_transparent_pixels_become_white_in_the_thumbnail() -> None:
    picture = PILImage.new("RGBA", (200, 200), (0, 0, 0, 0))
    picture.paste((200, 30, 30, 255), (50, 50, 150, 150))
    out = io.BytesIO()
    picture.save(out, "PNG")
    small = decoded(images.inspect(out.getvalue(), "same_hq", thumbnail=True).thumbnail or b"")
    assert small.mode == "RGB"
    assert min(small.getpixel((2, 2))) > 245  # type: ignore[arg-type]
