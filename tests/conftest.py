"""Fixtures shared by every suite: personas, generated images."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image as PILImage


def make_image(seed: int = 0, size: tuple[int, int] = (320, 240), fmt: str = "JPEG") -> bytes:
    """A textured picture, different for every seed (flat images are rightly refused)."""
    rng = np.random.default_rng(seed)
    width, height = size
    small = rng.integers(0, 256, (max(2, height // 16), max(2, width // 16), 3), dtype=np.uint8)
    picture = PILImage.fromarray(small).resize((width, height), PILImage.Resampling.BICUBIC)
    out = io.BytesIO()
    picture.save(out, fmt)
    return out.getvalue()


@pytest.fixture(autouse=True)
def plain_static_files(settings):
    # The hashed manifest exists only after collectstatic; tests render templates without it.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def private_cache(settings):
    from django.core.cache import cache

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast tests
    cache.clear()


@pytest.fixture
def personas(django_user_model):
    return {
        name: django_user_model.objects.create_user(name, password="a long passphrase 1")
        for name in ("owner", "editor", "viewer", "outsider")
    }
