"""Query transforms: the edits a user's query makes of a stored picture (crop, re-compress,
resize, rotate, mirror, overlay text or a logo, screenshot, perspective), deterministic per seed.

One definition for the benchmark (`bench/quality.py` through `bench/corpus.py`) and the
console's test bench (`gallery/services/testbench.py`), so that a test set built in the console
asks the engine exactly the queries the benchmark measures. Plain Python: no Django.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps

# --------------------------------------------------------------------------- images


def load_rgb(path: Path | BinaryIO, max_side: int = 1280) -> Image.Image:
    """A photo (a path or an open binary file) as RGB, EXIF orientation applied, transparency
    composited on white, longest side capped."""
    with Image.open(path) as opened:
        im: Image.Image = ImageOps.exif_transpose(opened)
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            rgba = im.convert("RGBA")
            canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            canvas.alpha_composite(rgba)
            im = canvas
        im = im.convert("RGB")
        if max(im.size) > max_side:
            im.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        return im.copy()


def encode(im: Image.Image, fmt: str = "JPEG", quality: int = 92) -> bytes:
    buf = io.BytesIO()
    if fmt == "JPEG":
        im.save(buf, "JPEG", quality=quality)
    else:
        im.save(buf, fmt)
    return buf.getvalue()


# --------------------------------------------------------------------------- transforms


@dataclass(frozen=True)
class Transform:
    name: str
    apply: Callable[[Image.Image, random.Random], Image.Image]
    fmt: str = "JPEG"
    quality: int = 90
    crop_area: float | None = None  # share of the original area kept, for crop transforms


def _crop(area: float) -> Callable[[Image.Image, random.Random], Image.Image]:
    def f(im: Image.Image, rng: random.Random) -> Image.Image:
        w, h = im.size
        # Keep `area` of the pixels with a random aspect ratio within 3:4..4:3 of the source.
        ar = rng.uniform(0.75, 1.33)
        cw = min(w, round(w * (area * ar) ** 0.5))
        ch = min(h, round(w * h * area / cw))
        x = rng.randint(0, w - cw)
        y = rng.randint(0, h - ch)
        return im.crop((x, y, x + cw, y + ch))

    return f


def _resize(f: float) -> Callable[[Image.Image, random.Random], Image.Image]:
    def g(im: Image.Image, rng: random.Random) -> Image.Image:
        w, h = im.size
        return im.resize((max(50, round(w * f)), max(50, round(h * f))), Image.Resampling.BILINEAR)

    return g


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    for p in (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    ):
        if Path(p).is_file():
            return ImageFont.truetype(p, size)
    return ImageFont.load_default(size)


def _text(im: Image.Image, rng: random.Random) -> Image.Image:
    """Three lines of large caption text across the picture, like a meme or a watermark."""
    im = im.copy()
    d = ImageDraw.Draw(im)
    w, h = im.size
    font = _font(max(12, h // 12))
    words = ["SALE", "Tuku", "2024", "demo", "photo", "© news", "LIVE", "offer", "HD"]
    for i in range(3):
        text = " ".join(rng.choice(words) for _ in range(3))
        y = round(h * (0.15 + 0.3 * i))
        d.text(
            (w * 0.05, y),
            text,
            fill=(255, 255, 255),
            font=font,
            stroke_width=2,
            stroke_fill=(0, 0, 0),
        )
    return im


def _logo(im: Image.Image, rng: random.Random) -> Image.Image:
    """An opaque logo badge (≈ 4 % of the area) in a corner."""
    im = im.copy()
    w, h = im.size
    s = round(0.2 * min(w, h))
    badge = Image.new("RGB", (2 * s, s), (200, 30, 40))
    d = ImageDraw.Draw(badge)
    d.ellipse((s // 8, s // 8, s - s // 8, s - s // 8), fill=(255, 255, 255))
    d.text((s + s // 10, s // 3), "LOGO", fill=(255, 255, 255), font=_font(max(8, s // 3)))
    corner = rng.choice([(0, 0), (w - 2 * s, 0), (0, h - s), (w - 2 * s, h - s)])
    im.paste(badge, corner)
    return im


def _rotate(deg: float) -> Callable[[Image.Image, random.Random], Image.Image]:
    def f(im: Image.Image, rng: random.Random) -> Image.Image:
        return im.rotate(
            deg * rng.choice([-1, 1]), Image.Resampling.BILINEAR, expand=True, fillcolor=(0, 0, 0)
        )

    return f


def _screenshot(im: Image.Image, rng: random.Random) -> Image.Image:
    """The picture shown at ~60 % size in a 1280x800 window with bars, as a PNG screenshot."""
    canvas = Image.new("RGB", (1280, 800), (236, 236, 236))
    d = ImageDraw.Draw(canvas)
    d.rectangle((0, 0, 1280, 56), fill=(40, 44, 52))
    d.rectangle((0, 56, 220, 800), fill=(250, 250, 250))
    d.text((20, 18), "Photos - Viewer", fill=(230, 230, 230), font=_font(20))
    shown = im.copy()
    shown.thumbnail((900, 680), Image.Resampling.BILINEAR)
    x = 240 + (1020 - shown.width) // 2
    y = 80 + (700 - shown.height) // 2
    canvas.paste(shown, (x, y))
    return canvas


def _perspective(im: Image.Image, rng: random.Random) -> Image.Image:
    """A photo of the picture taken at an angle: one side ~15 % shorter, on a grey table."""
    w, h = im.size
    k = 0.075
    src = np.asarray([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    if rng.random() < 0.5:  # the right side recedes
        dst = np.asarray([[0, 0], [w, k * h], [w, (1 - k) * h], [0, h]], dtype=np.float32)
    else:  # the top side recedes
        dst = np.asarray([[k * w, 0], [(1 - k) * w, 0], [w, h], [0, h]], dtype=np.float32)
    m = cv2.getPerspectiveTransform(src, dst)
    out = cv2.warpPerspective(np.asarray(im), m, (w, h), borderValue=(128, 128, 128))
    return Image.fromarray(out)


def _brightness(im: Image.Image, rng: random.Random) -> Image.Image:
    im = ImageEnhance.Brightness(im).enhance(rng.choice([0.65, 1.35]))
    return ImageEnhance.Contrast(im).enhance(rng.choice([0.7, 1.3]))


def _combo(im: Image.Image, rng: random.Random) -> Image.Image:
    im = _crop(0.6)(im, rng)
    im = _brightness(im, rng)
    return _resize(0.6)(im, rng)


def _identity(im: Image.Image, rng: random.Random) -> Image.Image:
    return im


TRANSFORMS: tuple[Transform, ...] = (
    Transform("copy_png", _identity, fmt="PNG"),
    Transform("jpeg_q30", _identity, quality=30),
    Transform("resize_50", _resize(0.5)),
    Transform("resize_25", _resize(0.25)),
    Transform("bright_contrast", _brightness),
    Transform("text_overlay", _text),
    Transform("logo_overlay", _logo),
    Transform("crop_90", _crop(0.9), crop_area=0.9),
    Transform("crop_70", _crop(0.7), crop_area=0.7),
    Transform("crop_50", _crop(0.5), crop_area=0.5),
    Transform("crop_30", _crop(0.3), crop_area=0.3),
    Transform("rotate_5", _rotate(5)),
    Transform("rotate_10", _rotate(10)),
    Transform("flip", lambda im, rng: ImageOps.mirror(im)),
    Transform("screenshot", _screenshot, fmt="PNG"),
    Transform("perspective", _perspective),
    Transform("combo_crop60_bc_resize", _combo),
)


def transformed(im: Image.Image, t: Transform, seed: int) -> bytes:
    """The query bytes for photo ``im`` under transform ``t`` (deterministic per seed)."""
    rng = random.Random(f"{t.name}:{seed}")
    out = t.apply(im, rng)
    return encode(out, t.fmt, t.quality)


TRANSFORM_NAMES: tuple[str, ...] = tuple(t.name for t in TRANSFORMS)


def transform_named(name: str) -> Transform:
    """The transform of that name; raises KeyError."""
    for t in TRANSFORMS:
        if t.name == name:
            return t
    raise KeyError(name)


def transformed_bytes(data: bytes, name: str, seed: int, max_side: int = 1280) -> bytes:
    """The query bytes for the stored image `data` under the transform `name`."""
    return transformed(load_rgb(io.BytesIO(data), max_side=max_side), transform_named(name), seed)
