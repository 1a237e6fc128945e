"""The activity log and an image's history in a real browser: long values wrap inside their
column, so neither a desktop nor a 390-px phone scrolls sideways, in English and Chinese.

Screenshots `history-*.png` (see conftest.SCREENSHOTS).
"""

from __future__ import annotations

from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from gallery.labels import Labels
from gallery.models import Image, Role
from gallery.services.applications import application_create
from gallery.services.images import image_update
from gallery.services.libraries import library_create, library_set_capacity
from gallery.services.members import membership_set
from gallery.services.uploads import image_upload
from tests.conftest import make_image

from .conftest import SCREENSHOTS, csp_refusals
from .test_console import PASSWORD, log_in, shot, wait

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# A brief of 256 bytes with no place to break a line: the worst a cell can be given.
LONG_BRIEF = "harbour_at_dusk_" * 16


def _overflow(driver: Any) -> dict[str, int]:
    return dict(
        driver.execute_script(
            "return {page: document.documentElement.scrollWidth,"
            " view: document.documentElement.clientWidth,"
            " table: document.querySelector('table.activity-log').scrollWidth,"
            " column: document.querySelector('table.activity-log').parentElement.clientWidth}"
        )
    )


def _in_language(code: str) -> Any:
    return lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == code


def _phone(driver: Any) -> None:
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True},
    )


def _phone_off(driver: Any) -> None:
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def _phone_page_shot(driver: Any, name: str) -> None:
    """The whole page at the phone's width."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 390, "height": min(int(height), 4000), "deviceScaleFactor": 1, "mobile": True},
    )
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
    _phone(driver)


def test_the_activity_log_fits_a_desktop_column_and_a_phone(
    browser: Any, live_console: Any, django_user_model: Any
):
    base = live_console.url
    owner = django_user_model.objects.create_user("olivia", password=PASSWORD)
    viewer = django_user_model.objects.create_user("victor-with-a-long-user-name-1234567890")
    application = application_create(
        actor=owner, name="History", backend="builtin", services=["same_hq"]
    )
    library = library_create(actor=owner, application=application, service="same_hq")
    row = image_upload(
        actor=owner, library=library, data=make_image(5), filename="a.jpg", labels=Labels((7,))
    )
    row = Image.objects.get(pk=row.pk)
    assert row.status == "indexed"
    image_update(actor=owner, image=row, brief=LONG_BRIEF, labels=Labels((7, 65535)))
    library_set_capacity(actor=owner, library=library, capacity=1_000_000)
    membership_set(actor=owner, application=application, user=viewer, role=Role.VIEWER)
    membership_set(actor=owner, application=application, user=viewer, role=Role.EDITOR)

    log_in(browser, base, "olivia")
    for language in ("en", "zh-hans"):
        browser.get(f"{base}/applications/{application.pk}/activity/")
        if language != "en":
            Select(browser.find_element(By.ID, "language")).select_by_value(language)
            wait(browser).until(_in_language(language))
        main = browser.find_element(By.TAG_NAME, "main").text
        assert "→" in main and "65535" in main
        sizes = _overflow(browser)
        assert sizes["page"] <= sizes["view"], sizes
        assert sizes["table"] <= sizes["column"], sizes
        shot(browser, f"history-activity-{language}")
        _phone(browser)
        browser.get(f"{base}/applications/{application.pk}/activity/")
        sizes = _overflow(browser)
        assert sizes["view"] == 390 and sizes["page"] <= sizes["view"], sizes
        _phone_page_shot(browser, f"history-activity-phone-{language}")
        browser.get(f"{base}/images/{row.pk}/")
        width = browser.execute_script(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert width[0] <= width[1], width
        assert "→" in browser.find_element(By.CSS_SELECTOR, "ol.history").text
        _phone_page_shot(browser, f"history-image-phone-{language}")
        _phone_off(browser)
    assert csp_refusals(browser) == []
