"""Browser tests: real headless Chromium (Debian's) against a live server running the console
and the built-in engine in one process, Celery eager.

Run: ``.venv/bin/pytest tests/browser -m browser`` (needs ``apt-get install chromium
chromium-driver``). Screenshots go to ``$TUKU_SCREENSHOTS`` (``make screenshots`` sets
``docs/screenshots/``), otherwise to a temporary folder, so a test run leaves the tree clean.
"""

from __future__ import annotations

import importlib
import io
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image as PILImage

from console.celery import app as celery_app
from tests.conftest import make_image

CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS = Path(os.environ.get("TUKU_SCREENSHOTS") or tempfile.mkdtemp(prefix="tuku-shots-"))


@pytest.fixture(scope="session")
def django_db_modify_db_settings(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A file-based SQLite test database: the live server's threads (the console calling the
    engine over HTTP inside one request) then each get their own connection."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        db.setdefault("TEST", {})["NAME"] = str(tmp_path_factory.mktemp("db") / "browser.sqlite3")


@pytest.fixture(scope="session")
def driver_path() -> Path:
    if not CHROMEDRIVER.exists() or shutil.which("chromium") is None:
        pytest.skip("needs Debian's chromium and chromium-driver")
    return CHROMEDRIVER


@pytest.fixture
def browser(driver_path: Path) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="tuku-chromium-")
    options = webdriver.ChromeOptions()
    for argument in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1280,900",
        "--lang=en-US",
    ):
        options.add_argument(argument)
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # for csp_refusals
    driver = webdriver.Chrome(service=Service(str(driver_path)), options=options)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def live_console(live_server: Any, settings: Any, tmp_path: Path) -> Iterator[Any]:
    """The live server as the engine of built-in applications, files in a temporary folder."""
    settings.ENGINE_URL = live_server.url
    # The tests point a "hosted" Baidu application at this loopback server too.
    settings.BACKEND_ALLOW_PRIVATE = True
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }
    from engine import index

    index.forget()
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = False
    try:
        yield live_server
    finally:
        celery_app.conf.task_always_eager = False
        index.forget()


@pytest.fixture(scope="session")
def photo_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Real photographs (Debian packages, via bench/corpus.py) as JPEGs of at most 1280 px;
    generated pictures where none are installed."""
    folder = tmp_path_factory.mktemp("photos")
    out: list[Path] = []
    try:
        corpus: Any = importlib.import_module("bench.corpus")
        sources = corpus.photos()
    except Exception:
        sources = []
    names = ["harbour", "forest", "street", "flowers", "mountain"]
    for i, source in enumerate(sources[:5]):
        image = corpus.load_rgb(source, max_side=1280)
        target = folder / f"{names[i]}.jpg"
        target.write_bytes(corpus.encode(image, "JPEG", quality=88))
        out.append(target)
    for i in range(len(out), 5):
        target = folder / f"{names[i]}.jpg"
        target.write_bytes(make_image(100 + i, size=(960, 640)))
        out.append(target)
    return out


def cropped_copy(path: Path, target: Path) -> Path:
    """The middle 70 % of a photo, recompressed hard: the query for same-image search."""
    with PILImage.open(path) as image:
        w, h = image.size
        box = (int(w * 0.15), int(h * 0.15), int(w * 0.85), int(h * 0.85))
        out = io.BytesIO()
        image.convert("RGB").crop(box).save(out, "JPEG", quality=45)
    target.write_bytes(out.getvalue())
    return target


def csp_refusals(driver: Any) -> list[str]:
    """What the Content-Security-Policy refused on every page since the browser started.

    A canary the policy must refuse comes last: it shows that the header was on and that its
    refusals reach the log, so an empty list is not the silence of a missing policy. Read once
    per browser: Chromium hands each log line out only once.
    """
    driver.execute_script("document.body.setAttribute('style', 'outline: 1px solid red')")
    refused: list[str] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        refused += [
            entry["message"]
            for entry in driver.get_log("browser")
            if "Content Security Policy" in entry["message"]
        ]
        if refused and "inline style" in refused[-1]:
            return refused[:-1]
        time.sleep(0.1)
    raise AssertionError(f"the canary inline style was not refused: {refused}")


# Four photos with a clear subject, so that the screenshots show a subject box worth looking at
# (any photo's crop finds its original: the engine searches with the whole picture as well as
# with its detected subject, aliyun-wire §5.5).
PICTURE_SOURCES = (
    "Picture_0B_by_freespace",
    "Dragonfly_by_Bolly",
    "friends_by_Aitzol_Berasategi",
    "LadyBird",
)


@pytest.fixture(scope="session")
def picture_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Four real photographs for an Alibaba instance (PICTURE_SOURCES, else the corpus's
    first four): JPEGs of at most 1200 px re-encoded from the decoded pixels, so no EXIF
    rotation flag (refused as IncorrectOrientation) comes with them."""
    corpus: Any = importlib.import_module("bench.corpus")
    found = {path.stem: path for path in corpus.photos()}
    sources = [found[name] for name in PICTURE_SOURCES if name in found]
    if len(sources) < len(PICTURE_SOURCES):
        sources = list(found.values())[:4]
    if len(sources) < 4:
        pytest.skip("needs the photos of bench/corpus.py (.venv/bin/python bench/corpus.py ensure)")
    folder = tmp_path_factory.mktemp("pictures")
    out: list[Path] = []
    for source in sources:
        # Dragonfly_by_Bolly.jpg → dragonfly.jpg: the picture name the pages show.
        target = folder / f"{source.stem.split('_by_')[0].lower().replace('_', '-')}.jpg"
        target.write_bytes(corpus.encode(corpus.load_rgb(source, max_side=1200), "JPEG", 88))
        out.append(target)
    return out
