"""Fixtures for engine.features: real photographs from installed packages, image bytes."""

from __future__ import annotations

import importlib.util
import io
import os
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image

from engine.features.decode import Decoded, decode

ROOT = Path(__file__).resolve().parents[3]

# Textured photos that the corpus finds first when their package is installed.
PREFERRED = ("baboon.jpg", "fruits.jpg", "astronaut.png", "coffee.png", "chelsea.png")


def _corpus() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tuku_bench_corpus", ROOT / "bench" / "corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while executing it
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def corpus() -> ModuleType:
    return _corpus()


@pytest.fixture(scope="session")
def photos(corpus: ModuleType) -> list[Path]:
    """At least three distinct real photos, or skip (fail under TUKU_REQUIRE_PHOTOS=1)."""
    found: list[Path] = corpus.photos()
    if len(found) < 3:
        reason = (
            "needs real photos from Debian/PyPI packages; install them with "
            f"`.venv/bin/python bench/corpus.py ensure --minimal` (found {len(found)})"
        )
        if os.environ.get("TUKU_REQUIRE_PHOTOS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    preferred = [p for name in PREFERRED for p in found if p.name == name]
    rest = [p for p in found if p not in preferred]
    return preferred + rest


def encode(rgb: np.ndarray | Image.Image, fmt: str = "JPEG", **kw: object) -> bytes:
    im = rgb if isinstance(rgb, Image.Image) else Image.fromarray(rgb)
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def photo_bytes(corpus: ModuleType, path: Path, max_side: int = 1024) -> bytes:
    return encode(corpus.load_rgb(path, max_side=max_side), "JPEG", quality=92)


def decoded(data: bytes) -> Decoded:
    return decode(data)


def noise_image(seed: int, size: tuple[int, int] = (240, 320)) -> np.ndarray:
    """A generated image with texture at several scales (not flat, not a photo)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (size[0] // 16, size[1] // 16, 3), dtype=np.uint8)
    big = np.asarray(Image.fromarray(small).resize((size[1], size[0]), Image.Resampling.BICUBIC))
    fine = rng.integers(-40, 40, (*size, 3))
    return np.clip(big.astype(int) + fine, 0, 255).astype(np.uint8)
