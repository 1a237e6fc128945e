"""Applications and libraries over their life, in a real browser: the copy buttons and the
"use it from code" panel (English and Chinese), and a library deleted through its typed
confirmation. Screenshots `life-*.png`."""

from __future__ import annotations

from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select

from engine.models import EngineLibrary
from gallery.models import Image, Library
from gallery.services.applications import application_create
from gallery.services.libraries import library_create
from gallery.services.uploads import image_upload
from tests.conftest import make_image

from .conftest import csp_refusals
from .test_console import PASSWORD, log_in, shot, wait

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_copy_buttons_the_code_panel_and_a_library_deleted_by_its_typed_name(
    browser: Any, live_console: Any, django_user_model: Any
):
    base = live_console.url
    owner = django_user_model.objects.create_user("olivia", password=PASSWORD)
    application = application_create(
        actor=owner, name="Life", backend="builtin", services=["same_hq", "similar"]
    )
    library = library_create(actor=owner, application=application, service="same_hq")
    library_create(actor=owner, application=application, service="similar")
    image_upload(actor=owner, library=library, data=make_image(5), filename="kept.jpg")
    wait(browser).until(lambda _d: Image.objects.filter(status="indexed").exists())
    # Let the page write to the clipboard without a user gesture prompt (headless).
    browser.execute_cdp_cmd(
        "Browser.grantPermissions",
        {"origin": base, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]},
    )
    log_in(browser, base, "olivia")
    browser.get(f"{base}/applications/{application.pk}/")

    panel = browser.find_element(By.CSS_SELECTOR, "[data-snippet]")
    code = panel.find_element(By.CSS_SELECTOR, "pre.snippet").text
    assert "from aip import AipImageSearch" in code
    assert f'SERVER = "{base}"' in code and application.secret_key not in code
    buttons = browser.find_elements(By.CSS_SELECTOR, "button[data-copy]")
    assert len(buttons) >= 4  # AppID, API Key, base URL, the snippet
    app_id_button = browser.find_element(By.CSS_SELECTOR, "dl.keys code + button[data-copy]")
    app_id_button.click()
    status = browser.find_element(
        By.CSS_SELECTOR, "dl.keys code + button[data-copy] + .copy-status"
    )
    wait(browser, 5).until(lambda _d: status.text == "Copied")
    copied = browser.execute_async_script(
        "var done = arguments[0];"
        "navigator.clipboard.readText().then(done, function () { done(null); });"
    )
    assert copied in (application.app_id, None)  # None: the headless build keeps no clipboard
    # The revealed Secret Key gets its copy button too.
    browser.find_element(By.CSS_SELECTOR, "form[data-reveal] button").click()
    secret = browser.find_element(By.CSS_SELECTOR, "[data-secret-value]")
    wait(browser, 5).until(lambda _d: secret.text == application.secret_key)
    assert browser.find_element(By.CSS_SELECTOR, "[data-secret-value] + button[data-copy]")
    browser.execute_script("document.getElementById('code').scrollIntoView()")
    shot(browser, "life-application")
    Select(browser.find_element(By.ID, "language")).select_by_value("zh-hans")
    wait(browser).until(
        lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-hans"
    )
    assert "在代码中使用" in browser.find_element(By.CSS_SELECTOR, "[data-snippet] h2").text
    assert browser.find_element(By.CSS_SELECTOR, "button[data-copy]").text == "复制"
    shot(browser, "life-application-zh")
    Select(browser.find_element(By.ID, "language")).select_by_value("en")
    wait(browser).until(lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en")

    # Delete the same_hq library: a wrong name is refused, the right one deletes it.
    browser.get(f"{base}/libraries/{library.pk}/")
    browser.find_element(By.CSS_SELECTOR, "[data-library-life] a.danger").click()
    wait(browser).until(ec.url_contains(f"/libraries/{library.pk}/delete/"))
    page = browser.find_element(By.CSS_SELECTOR, "[data-delete-library]").text
    assert "The 1 original kept here and its thumbnail are deleted from storage." in page
    shot(browser, "life-library-delete")
    field = browser.find_element(By.ID, "id_confirm")
    field.send_keys("Life/similar")
    browser.find_element(By.CSS_SELECTOR, "form button.danger").click()
    error = wait(browser).until(ec.visibility_of_element_located((By.CSS_SELECTOR, ".field-error")))
    assert "Type Life/same_hq to confirm." in error.text
    assert Library.objects.filter(pk=library.pk).exists()
    field = browser.find_element(By.ID, "id_confirm")
    field.clear()
    field.send_keys("Life/same_hq")
    browser.find_element(By.CSS_SELECTOR, "form button.danger").click()
    wait(browser).until(ec.url_to_be(f"{base}/applications/{application.pk}/"))
    assert "deleted" in browser.find_element(By.CSS_SELECTOR, "main").text
    assert not Library.objects.filter(pk=library.pk).exists()
    assert not Image.objects.exists()
    assert not EngineLibrary.objects.filter(app__app_id=application.app_id, service="same_hq")
    shot(browser, "life-library-deleted")
    assert csp_refusals(browser) == []
