"""Checking uploaded image files and making their thumbnails.

A file is judged by decoding it, never by its name or the client's content type. The limits are
the wire contract's (baidu-wire §5.1, §5.3), checked before anything is stored or sent, so the user
reads the reason in plain words instead of a backend error code.
"""

from __future__ import annotations

import builtins
import hashlib
import io
import uuid
from dataclasses import dataclass

from django.utils.translation import gettext as _
from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError

from wire.baidu import MAX_IMAGE_BYTES, MAX_SIDE, PIXEL_LIMITS

FORMATS = ("JPEG", "PNG", "BMP")
# Refuse anything whose header claims more pixels than the largest legal image before decoding
# it: a decompression bomb costs memory the moment it is decoded.
MAX_PIXELS = MAX_SIDE * MAX_SIDE
# The one thumbnail spec: JPEG, at most this many pixels on the longest side.
THUMBNAIL_SIDE = 320
THUMBNAIL_QUALITY = 82


class ImageInvalid(ValueError):
    """The file cannot be pushed. `code` is the wire error the backend would have given."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ImageFacts:
    format: str
    width: int
    height: int
    bytes: int
    sha256: str
    thumbnail: builtins.bytes | None = None  # JPEG, only when asked for (`bytes` is a field)


def inspect(data: bytes, service: str, *, thumbnail: bool = False) -> ImageFacts:
    """Decode `data` fully and check it against `service`'s limits; raise ImageInvalid.

    With `thumbnail`, the thumbnail is made from the same decode (uploads need both).
    """
    if not data:
        raise ImageInvalid(216200, _("The file is empty."))
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageInvalid(
            216202,
            _("The file is %(size).1f MiB; the limit is 3 MiB.") % {"size": len(data) / 2**20},
        )
    try:
        with PILImage.open(io.BytesIO(data)) as probe:
            fmt = probe.format or ""
            width, height = probe.size
            if fmt not in FORMATS:
                raise ImageInvalid(
                    216201,
                    _("%(format)s images are not accepted: use PNG, JPEG or BMP.")
                    % {"format": fmt or _("This kind of")},
                )
            if width * height > MAX_PIXELS:
                raise ImageInvalid(216202, _("The image is too large to decode safely."))
            probe.load()
            _check_dimensions(width, height, service)
            small = _thumbnail(probe) if thumbnail else None
    except ImageInvalid:
        raise
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        PILImage.DecompressionBombError,
    ):
        raise ImageInvalid(
            216201, _("The file is not a readable image (PNG, JPEG or BMP), or it is damaged.")
        ) from None
    return ImageFacts(fmt, width, height, len(data), hashlib.sha256(data).hexdigest(), small)


def _check_dimensions(width: int, height: int, service: str) -> None:
    min_side, max_ratio = PIXEL_LIMITS[service]
    short, long = sorted((width, height))
    if long > MAX_SIDE:
        raise ImageInvalid(
            216202,
            _("The image is %(w)d×%(h)d px; the longest side may be at most %(max)d px.")
            % {"w": width, "h": height, "max": MAX_SIDE},
        )
    if short < min_side:
        raise ImageInvalid(
            216202,
            _("The image is %(w)d×%(h)d px; this service needs the shortest side ≥ %(min)d px.")
            % {"w": width, "h": height, "min": min_side},
        )
    if max_ratio is not None and long / short > max_ratio:
        raise ImageInvalid(
            216202,
            _("The image is %(w)d×%(h)d px; this service accepts aspect ratios up to %(r)d:1.")
            % {"w": width, "h": height, "r": int(max_ratio)},
        )


def _thumbnail(source: PILImage.Image, side: int = THUMBNAIL_SIDE) -> bytes:
    """A JPEG no larger than `side` on its longest edge, EXIF orientation applied."""
    picture = ImageOps.exif_transpose(source)
    picture.thumbnail((side, side), PILImage.Resampling.LANCZOS)
    if picture.mode not in ("RGB", "L"):
        background = PILImage.new("RGB", picture.size, (255, 255, 255))
        rgba = picture.convert("RGBA")
        background.paste(rgba, mask=rgba.getchannel("A"))
        picture = background
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=THUMBNAIL_QUALITY, optimize=True)
    return out.getvalue()


def thumbnail_name() -> str:
    """Thumbnail storage names never repeat, so that browsers may cache them for a day."""
    return f"{uuid.uuid4().hex}.jpg"
