"""A walk through every page of the console in Simplified Chinese: no English is left on any
of them, except names (Tuku, Baidu, the keys' names, the user's own data) and the backends'
own error messages, which always come with a Chinese explanation (issue 13's acceptance).

Every page visited is saved as a screenshot named ``zh-<page>.png``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from gallery.models import Image
from gallery.services.applications import application_create
from gallery.services.images import images_delete
from gallery.services.libraries import library_create
from gallery.services.uploads import batch_add_files, batch_close, batch_create, image_upload

from .conftest import csp_refusals
from .test_console import log_in, shot, wait

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Words that stay as they are in a Chinese page: names of things, formats, units, Baidu's
# own field name "brief" (the translations keep it, as Baidu's Chinese documents do), and
# what the user typed. Anything else in Latin letters is an untranslated string.
NAMES = {
    "Tuku", "Baidu", "Alibaba", "Cloud", "AppID", "API", "Key", "Secret", "SDK", "URL",
    "UTC", "QPS", "SHA", "JPEG", "PNG", "GIF", "BMP", "WebP", "TIFF", "MiB", "KiB", "MB",
    "English", "AccessKey", "AND", "ORB", "Python", "Node", "HTTP", "HTTPS", "JSON", "ETA",
    "UTF", "Brief", "brief", "olivia", "jpg", "txt", "Webcam",
}  # fmt: skip
WORD = re.compile(r"[A-Za-z][A-Za-z_]{2,}")


def english_on(driver: Any) -> list[str]:
    """The Latin-letter words of the visible page that are not names. Code (keys, URLs, the
    wire's own names such as `same_hq`) is shown as code and left out."""
    text = driver.execute_script(
        "var copy = document.body.cloneNode(true);"
        "copy.querySelectorAll('code, kbd, samp, pre, script, style').forEach("
        "  function (e) { e.remove(); });"
        "document.body.appendChild(copy); var t = copy.innerText; copy.remove(); return t;"
    )
    return sorted({w for w in WORD.findall(text) if w not in NAMES})


def test_every_page_in_chinese_shows_no_english(
    browser: Any, live_console: Any, django_user_model: Any, photo_files: list[Path]
):
    base = live_console.url
    owner = django_user_model.objects.create_user("olivia", password="a long passphrase 1")
    application = application_create(
        actor=owner, name="照片档案", backend="builtin", services=["similar", "same_hq"]
    )
    similar = library_create(actor=owner, application=application, service="similar")
    library_create(actor=owner, application=application, service="same_hq")
    names = ["港口", "森林", "街道", "花", "山"]
    images = [
        image_upload(actor=owner, library=similar, data=p.read_bytes(), filename=f"{n}.jpg")
        for p, n in zip(photo_files, names, strict=True)
    ]
    batch = batch_create(actor=owner, library=similar, files_follow=True)
    batch_add_files(batch=batch, files=[(b"not an image", "说明.txt")])
    batch_close(batch=batch)
    gone = images[-1]
    images_delete(actor=owner, images=[gone])
    image = Image.objects.get(pk=images[0].pk)

    log_in(browser, base, "olivia")
    Select(browser.find_element(By.ID, "language")).select_by_value("zh-hans")
    wait(browser).until(
        lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-hans"
    )
    pages = {
        "home": "/",
        "application-new": "/applications/new/",
        "application": f"/applications/{application.pk}/",
        "application-edit": f"/applications/{application.pk}/edit/",
        "activity": f"/applications/{application.pk}/activity/",
        "usage": f"/applications/{application.pk}/usage/",
        "rotate": f"/applications/{application.pk}/secret/rotate/",
        "library": f"/libraries/{similar.pk}/",
        "upload": f"/libraries/{similar.pk}/upload/",
        "search": f"/libraries/{similar.pk}/search/",
        "clear": f"/libraries/{similar.pk}/clear/",
        "copy": f"/libraries/{similar.pk}/copy/",
        "image": f"/images/{image.pk}/",
        "image-deleted": f"/images/{gone.pk}/",
        "batch": f"/batches/{batch.pk}/",
        "password": "/accounts/password/",
    }
    found: dict[str, list[str]] = {}
    for name, path in pages.items():
        browser.get(base + path)
        shot(browser, f"zh-{name}")
        assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-hans"
        words = english_on(browser)
        if words:
            found[name] = words
    assert csp_refusals(browser) == []
    assert found == {}, f"English left on Chinese pages: {found}"
