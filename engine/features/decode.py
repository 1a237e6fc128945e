"""Decoding uploaded bytes to RGB: PNG, JPEG and BMP by content, EXIF orientation applied,
16-bit samples scaled to 8, decompression bombs refused before they are decompressed
(baidu-wire §5.1)."""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageOps

from wire.baidu import MAX_SIDE, MESSAGES


class ImageRejected(Exception):
    """An image the wire layer answers with a Baidu error (216201 / 216202 / 216203)."""

    def __init__(self, error_code: int, error_msg: str | None = None) -> None:
        error_msg = MESSAGES[error_code] if error_msg is None else error_msg
        super().__init__(f"{error_code} {error_msg}")
        self.error_code = error_code
        self.error_msg = error_msg


FORMAT_ERROR = 216201
SIZE_ERROR = 216202
CANNOT_HANDLE = 216203

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"BM", "BMP"),
)


@dataclass(frozen=True)
class Decoded:
    format: str  # "JPEG" | "PNG" | "BMP", detected from the content
    width: int  # after EXIF orientation
    height: int
    rgb: np.ndarray  # (height, width, 3) uint8


def sniff_format(data: bytes) -> str | None:
    for magic, name in _SIGNATURES:
        if data.startswith(magic):
            return name
    return None


def decode(data: bytes) -> Decoded:
    """Decode PNG / JPEG / BMP bytes to RGB with EXIF orientation applied.

    Raises ImageRejected(216201) for other formats and undecodable or truncated files, and
    ImageRejected(216202) for a side over MAX_SIDE, the limit of every service (baidu-wire
    §5.3), checked from the header before the pixels are decompressed; the console checks in
    the same order, so a file that is both damaged and too large gets the same code from both.
    """
    fmt = sniff_format(data)
    if fmt is None:
        raise ImageRejected(FORMAT_ERROR)
    try:
        with Image.open(io.BytesIO(data), formats=[fmt]) as im:
            if max(im.width, im.height) > MAX_SIDE or im.width <= 0 or im.height <= 0:
                raise ImageRejected(SIZE_ERROR)
            im.load()  # raises on truncated data (LOAD_TRUNCATED_IMAGES stays False)
            rgb = _to_rgb(ImageOps.exif_transpose(im))
    except ImageRejected:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageRejected(SIZE_ERROR) from exc
    except (OSError, ValueError, SyntaxError, struct.error, EOFError) as exc:
        raise ImageRejected(FORMAT_ERROR) from exc
    return Decoded(format=fmt, width=rgb.shape[1], height=rgb.shape[0], rgb=rgb)


# Modes whose samples go past 255: PNG's 16-bit greyscale (older Pillow opened it as "I").
_WIDE_GREY = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})


# "No content" (216203 for every service, engine.features.extract): on a 64 x 64 area-averaged
# thumbnail, every channel of every pixel is within NO_CONTENT_TOLERANCE levels of the median
# colour, i.e. one colour or near enough. A flat colour stays at 0 after JPEG at any quality;
# a 6-level gradient, +-4-level stripes or a pale sky (3 levels) pass (docs/engine-features.md).
NO_CONTENT_SIDE = 64
NO_CONTENT_TOLERANCE = 2


def no_content(rgb: np.ndarray) -> bool:
    """Whether the picture is a single colour, or near enough (the 216203 rule)."""
    small = cv2.resize(
        np.ascontiguousarray(rgb), (NO_CONTENT_SIDE, NO_CONTENT_SIDE), interpolation=cv2.INTER_AREA
    ).reshape(-1, 3)
    median = np.median(small, axis=0)
    return bool(np.abs(small.astype(np.float32) - median).max() <= NO_CONTENT_TOLERANCE)


def _to_rgb(im: Image.Image) -> np.ndarray:
    if im.mode in _WIDE_GREY:
        # Pillow's own conversion clips at 255, which turns a 16-bit picture almost white (and
        # then flat, 216203); the top byte of each sample is the picture as a viewer shows it.
        wide = np.clip(np.asarray(im, dtype=np.int64), 0, 0xFFFF) >> 8
        im = Image.fromarray(wide.astype(np.uint8))
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        # Composite transparency on white, the way viewers show it; converting straight to
        # RGB would expose whatever colour the transparent pixels happen to store.
        rgba = im.convert("RGBA")
        im = _composite(rgba, (255, 255, 255, 255))
        if no_content(np.asarray(im.convert("RGB"))):
            # A white (or pale) overlay whose picture is all in its alpha channel, such as
            # a desktop wallpaper meant to lie over a colour (mate-backgrounds' Silk, Waves,
            # Stripes-Light): on white it vanishes, so it is seen the way a dark desktop
            # shows it. Nothing that has content on white changes.
            on_black = _composite(rgba, (0, 0, 0, 255))
            if not no_content(np.asarray(on_black.convert("RGB"))):
                im = on_black
    if im.mode != "RGB":
        im = im.convert("RGB")
    return np.ascontiguousarray(np.asarray(im, dtype=np.uint8))


def _composite(rgba: Image.Image, background: tuple[int, int, int, int]) -> Image.Image:
    canvas = Image.new("RGBA", rgba.size, background)
    canvas.alpha_composite(rgba)
    return canvas
