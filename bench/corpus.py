"""Real photographs from installed packages, and the query transforms the benchmark uses.

Nothing here is committed: the photos come from Debian packages and a PyPI wheel, either
installed system-wide or extracted into a cache directory by ``ensure()``:

    .venv/bin/python bench/corpus.py ensure             # apt-get download + dpkg-deb -x (no root)
    .venv/bin/python bench/corpus.py ensure --install   # apt-get install (root), system-wide
    .venv/bin/python bench/corpus.py list               # what photos() finds

Licences: lomiri-wallpapers-16.04 CC-BY / CC-BY-SA / CC0 per file; mate-backgrounds and
plasma-workspace-wallpapers and tuxpaint-stamps-default GPL-2+; opencv-doc examples
Apache-2.0 / BSD-3; scikit-image data BSD-3 (details in each package's copyright file).
"""

from __future__ import annotations

import io
import os
import random
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("TUKU_PHOTOS_DIR", REPO / ".cache" / "photos"))

# Debian packages (download sizes in bench/README.md). MINIMAL is enough for the unit
# tests; the benchmark wants them all.
MINIMAL_PACKAGES = ("lomiri-wallpapers-16.04",)
PHOTO_PACKAGES = (
    "lomiri-wallpapers-16.04",
    "mate-backgrounds",
    "opencv-doc",
    "plasma-workspace-wallpapers",
    "tuxpaint-stamps-default",
)
SKIMAGE_WHEEL = "scikit-image==0.26.0"

_OPENCV = "usr/share/doc/opencv-doc/examples/data"
# opencv-doc photos; the calibration chessboards, synthetic shapes, logos, text and masks
# are left out. The second image of each near-scene pair (another frame, view or edit of
# the same scene) is kept apart as a hard negative, see near_scene_pairs().
_OPENCV_PHOTOS = [
    "Blender_Suzanne1.jpg",
    "aero1.jpg",
    "aloeL.jpg",
    "apple.jpg",
    "baboon.jpg",
    "basketball1.png",
    "board.jpg",
    "box_in_scene.png",
    "building.jpg",
    "butterfly.jpg",
    "ela_original.jpg",
    "fruits.jpg",
    "graf1.png",
    "home.jpg",
    "leuvenA.jpg",
    "left.jpg",
    "left01.jpg",
    "licenseplate_motion.jpg",
    "messi5.jpg",
    "orange.jpg",
    "pca_test1.jpg",
    "rubberwhale1.png",
    "smarties.png",
    "squirrel_cls.jpg",
    "starry_night.jpg",
    "stuff.jpg",
    "sudoku.png",
    "text_defocus.jpg",
    "HappyFish.jpg",
]
_OPENCV_PAIRS = (
    ("Blender_Suzanne1.jpg", "Blender_Suzanne2.jpg"),
    ("aero1.jpg", "aero3.jpg"),
    ("aloeL.jpg", "aloeR.jpg"),
    ("basketball1.png", "basketball2.png"),
    ("ela_original.jpg", "ela_modified.jpg"),
    ("graf1.png", "graf3.png"),
    ("leuvenA.jpg", "leuvenB.jpg"),
    ("left.jpg", "right.jpg"),
    ("left01.jpg", "left02.jpg"),
    ("rubberwhale1.png", "rubberwhale2.png"),
    ("text_defocus.jpg", "text_motion.jpg"),
)
_SKIMAGE_PHOTOS = [
    "astronaut.png",
    "brick.png",
    "camera.png",
    "chelsea.png",
    "coffee.png",
    "coins.png",
    "grass.png",
    "gravel.png",
    "hubble_deep_field.jpg",
    "ihc.png",
    "motorcycle_left.png",
    "retina.jpg",
    "rocket.jpg",
    "page.png",
    "text.png",
    "moon.png",
    "cell.png",
    "clock_motion.png",
]
# tuxpaint categories that are photographs (the alphabets, maths and shapes are drawings).
_TUXPAINT_PHOTO_DIRS = (
    "animals",
    "food",
    "plants",
    "town",
    "vehicles",
    "household",
    "hobbies",
    "space",
    "clothes",
    "sports",
)


def _roots(package: str) -> list[Path]:
    """Where a package's files may be: the system root if installed, then the cache."""
    roots = []
    if Path(f"/var/lib/dpkg/info/{package}.list").exists():
        roots.append(Path("/"))
    cached = CACHE / "x" / package
    if cached.is_dir():
        roots.append(cached)
    return roots


def _first(package: str, rel: str) -> Path | None:
    for root in _roots(package):
        p = root / rel
        if p.is_file():
            return p
    return None


def _lomiri() -> list[Path]:
    out: dict[str, Path] = {}
    for root in _roots("lomiri-wallpapers-16.04"):
        listing = Path(f"/var/lib/dpkg/info/{'lomiri-wallpapers-16.04'}.list")
        if root == Path("/") and listing.exists():
            files = [Path(s) for s in listing.read_text().split() if s.endswith(".jpg")]
        else:
            files = sorted((root / "usr/share/backgrounds").glob("*.jpg"))
        for f in files:
            out.setdefault(f.name, f)
    return [out[k] for k in sorted(out)]


def _mate() -> list[Path]:
    out: dict[str, Path] = {}
    for root in _roots("mate-backgrounds"):
        base = root / "usr/share/backgrounds/mate"
        for f in sorted(base.glob("nature/*.jpg")):
            out.setdefault(f.name, f)
        elephants = base / "abstract/Elephants_3840x2160.jpg"
        if elephants.is_file():
            out.setdefault(elephants.name, elephants)
    return [out[k] for k in sorted(out)]


def _plasma() -> list[Path]:
    """One file per wallpaper: the largest of its images/ folder no bigger than 3840 wide."""
    out: dict[str, Path] = {}
    for root in _roots("plasma-workspace-wallpapers"):
        for d in sorted((root / "usr/share/wallpapers").glob("*/contents/images")):
            best = None
            for f in sorted(d.iterdir()):
                try:
                    w, h = (int(v) for v in f.stem.split("x"))
                except ValueError:
                    continue
                if w >= h and (best is None or (w <= 3840 and w > best[0])):
                    best = (w, f)
            if best is not None:
                out.setdefault(d.parent.parent.name, best[1])
    return [out[k] for k in sorted(out)]


def _opencv(names: list[str] | tuple[str, ...]) -> list[Path]:
    return [p for n in names if (p := _first("opencv-doc", f"{_OPENCV}/{n}")) is not None]


def _skimage() -> list[Path]:
    dirs = [CACHE / "skimage" / "data"]
    try:
        import skimage  # type: ignore[import-not-found]

        dirs.insert(0, Path(skimage.__file__).parent / "data")
    except ImportError:
        pass
    for d in dirs:
        if d.is_dir():
            return [d / n for n in _SKIMAGE_PHOTOS if (d / n).is_file()]
    return []


def photos() -> list[Path]:
    """Distinct real photographs (and a few artworks) found on this machine, stable order."""
    return _lomiri() + _mate() + _opencv(_OPENCV_PHOTOS) + _skimage() + _plasma()


def near_scene_pairs() -> list[tuple[Path, Path]]:
    """(photo in photos(), another shot / edit of the same scene) for hard negatives."""
    out = []
    for a, b in _OPENCV_PAIRS:
        pa, pb = _opencv([a]), _opencv([b])
        if pa and pb:
            out.append((pa[0], pb[0]))
    return out


def stamps() -> dict[str, list[Path]]:
    """tuxpaint photographic cut-outs by category (e.g. 'animals/birds'): fillers, labels."""
    out: dict[str, list[Path]] = {}
    for root in _roots("tuxpaint-stamps-default"):
        base = root / "usr/share/tuxpaint/stamps"
        for top in _TUXPAINT_PHOTO_DIRS:
            for f in sorted((base / top).rglob("*.png")):
                if f.name.endswith(("_mirror.png", "_back.png")) or "_shadow" in f.name:
                    continue
                cat = "/".join(f.relative_to(base).parent.parts[:2])
                out.setdefault(cat, []).append(f)
        if out:
            break
    return out


def ensure(*, install: bool = False, minimal: bool = False) -> None:
    """Make the photo packages available: extract into CACHE (default) or apt-get install.

    Needs the Debian archive (run ``apt-get update`` once) and PyPI for the scikit-image
    wheel. Already-present packages are skipped.
    """
    packages = MINIMAL_PACKAGES if minimal else PHOTO_PACKAGES
    missing = [p for p in packages if not _roots(p)]
    if missing and install:
        subprocess.run(
            ["apt-get", "install", "-y", "--no-install-recommends", *missing], check=True
        )
    elif missing:
        debs = CACHE / "debs"
        debs.mkdir(parents=True, exist_ok=True)
        # Each package is extracted beside its final place and renamed into it, so that a run
        # cut short leaves no half-extracted package that _roots() would take for a whole one.
        (CACHE / "x").mkdir(exist_ok=True)
        subprocess.run(["apt-get", "download", *missing], cwd=debs, check=True)
        for p in missing:
            deb = next(debs.glob(f"{p}_*.deb"))
            target = CACHE / "x" / p
            tmp = Path(tempfile.mkdtemp(dir=CACHE, prefix=f".{p}."))
            subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp)], check=True)
            tmp.rename(target)
            deb.unlink()
    if not _skimage():
        wheels = CACHE / "wheels"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "-d",
                str(wheels),
                SKIMAGE_WHEEL,
            ],
            check=True,
        )
        wheel = next(wheels.glob("scikit_image-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            for name in zf.namelist():
                if name.startswith("skimage/data/") and not name.endswith("/"):
                    dest = CACHE / name
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_bytes(zf.read(name))
        wheel.unlink()


# Real pictures with little or no texture (issue 15): mate-backgrounds' transparent overlays
# (white or pale drawings whose picture is in the alpha channel), its soft stripes, and the
# smoothest plasma photo. Given as files: the engine's decoder decides how their
# transparency is shown, so the benchmark must send the original bytes.
_LOW_TEXTURE_FILES = (
    "abstract/Silk.png",
    "abstract/Spring.png",
    "abstract/Waves.png",
    "abstract/Flow.png",
    "abstract/Gulp.png",
    "abstract/Arc-Colors-Transparent-Wallpaper.png",
    "desktop/MATE-Stripes-Light.png",
    "desktop/Stripes.png",
)


def low_texture_files() -> list[Path]:
    """The real low-texture wallpapers found on this machine (see _LOW_TEXTURE_FILES)."""
    out = []
    for rel in _LOW_TEXTURE_FILES:
        p = _first("mate-backgrounds", f"usr/share/backgrounds/mate/{rel}")
        if p is not None:
            out.append(p)
    return out


def synthetic_low_texture(seed: int = 0) -> list[tuple[str, Image.Image]]:
    """Generated pictures with few or no corners: two-colour gradients in several directions,
    radial gradients, soft stripes, heavily blurred photos and nearly uniform skies."""
    rng = np.random.default_rng(seed)
    h, w = 720, 1080
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out: list[tuple[str, Image.Image]] = []

    def colour() -> np.ndarray:
        return rng.integers(0, 256, 3).astype(np.float32)

    def img(a: np.ndarray) -> Image.Image:
        return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))

    for i in range(12):
        angle = rng.uniform(0, 2 * np.pi)
        t = (np.cos(angle) * xx / w + np.sin(angle) * yy / h + 1) / 2
        t = (t - t.min()) / max(1e-6, float(np.ptp(t)))
        a, b = colour(), colour()
        out.append((f"gradient{i}", img(a + (b - a) * t[..., None])))
    for i in range(4):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        t = np.hypot(xx - cx, yy - cy) / np.hypot(w, h)
        a, b = colour(), colour()
        out.append((f"radial{i}", img(a + (b - a) * (t / t.max())[..., None])))
    for i in range(6):
        period = rng.uniform(60, 250)
        angle = rng.uniform(0, np.pi)
        amp = rng.uniform(6, 30)
        phase = (np.cos(angle) * xx + np.sin(angle) * yy) * 2 * np.pi / period
        base = colour() * 0.6 + 50
        out.append((f"stripes{i}", img(base + amp * np.sin(phase)[..., None])))
    for i in range(4):
        top = np.array([90, 150, 230], np.float32) + rng.uniform(-25, 25, 3)
        bottom = top + rng.uniform(5, 40, 3)
        t = (yy / h)[..., None]
        sky = top + (bottom - top) * t + rng.normal(0, 1.5, (h, w, 3))
        out.append((f"sky{i}", img(sky)))
    return out


def blurred(photo: Path, radius: float = 40.0) -> Image.Image:
    """A photo blurred until hardly a corner is left (a defocused shot)."""
    from PIL import ImageFilter

    return load_rgb(photo).filter(ImageFilter.GaussianBlur(radius))


# --------------------------------------------------------------------------- images


def load_rgb(path: Path, max_side: int = 1280) -> Image.Image:
    """A photo as RGB (transparency composited on white), longest side capped."""
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
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
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    if rng.random() < 0.5:  # the right side recedes
        dst = np.float32([[0, 0], [w, k * h], [w, (1 - k) * h], [0, h]])
    else:  # the top side recedes
        dst = np.float32([[k * w, 0], [(1 - k) * w, 0], [w, h], [0, h]])
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


def _main(argv: list[str]) -> int:
    cmd = argv[1] if len(argv) > 1 else "list"
    if cmd == "ensure":
        ensure(install="--install" in argv, minimal="--minimal" in argv)
    ps = photos()
    st = stamps()
    print(
        f"{len(ps)} photos, {len(near_scene_pairs())} near-scene pairs, "
        f"{sum(map(len, st.values()))} stamps in {len(st)} categories (cache: {CACHE})"
    )
    if cmd == "list":
        for p in ps:
            print(p)
    return 0 if ps else 1


if __name__ == "__main__":
    sys.exit(_main(sys.argv))


__all__ = [
    "TRANSFORMS",
    "Transform",
    "encode",
    "ensure",
    "load_rgb",
    "near_scene_pairs",
    "photos",
    "stamps",
    "transformed",
]
