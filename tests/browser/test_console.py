"""The console in a real browser: log in, create an application and libraries, upload real
photos, search with a cropped copy, edit, delete; a viewer cannot upload, an outsider gets 404.

Every page visited is saved as a screenshot (see conftest.SCREENSHOTS).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from gallery.models import Image, Library, Membership, Role
from gallery.services.applications import application_create
from gallery.services.libraries import library_create

from .conftest import SCREENSHOTS, cropped_copy, csp_refusals

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "a long passphrase 1"


def shot(driver: Any, name: str, *, width: int = 1280) -> None:
    """Save the whole page (the window grows to the document's height) as a PNG."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.set_window_size(width, 900)
    height = driver.execute_script(
        "return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)"
    )
    driver.set_window_size(width, min(max(int(height) + 140, 600), 4000))
    driver.execute_script("window.scrollTo(0, 0)")
    time.sleep(0.15)
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
    driver.set_window_size(1280, 900)


class _PageWait(WebDriverWait):
    """A wait across page loads: pages reload themselves when an image settles, and a form
    post replaces the page, so an element may go stale mid-check. Chromium reports some of
    those as a generic error about a node no longer in the document: the same, retried."""

    def until(self, method: Any, message: str = "") -> Any:
        def tolerant(driver: Any) -> Any:
            try:
                return method(driver)
            except WebDriverException as exc:
                if "does not belong to the document" not in str(exc):
                    raise
                return False

        return super().until(tolerant, message)


def wait(driver: Any, seconds: float = 20) -> WebDriverWait:
    return _PageWait(
        driver, seconds, poll_frequency=0.1, ignored_exceptions=[StaleElementReferenceException]
    )


def log_in(driver: Any, base: str, username: str, *, screenshot: str = "") -> None:
    driver.delete_all_cookies()
    driver.get(f"{base}/accounts/login/")
    driver.find_element(By.ID, "id_username").send_keys(username)
    driver.find_element(By.ID, "id_password").send_keys(PASSWORD)
    if screenshot:
        shot(driver, screenshot)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit].primary").click()
    wait(driver).until(ec.url_to_be(f"{base}/"))


def submit(driver: Any, form_selector: str) -> None:
    driver.find_element(By.CSS_SELECTOR, f"{form_selector} button[type=submit]").click()


def test_owner_uploads_searches_edits_and_deletes(
    browser: Any, live_console: Any, django_user_model: Any, photo_files: list[Path], tmp_path
):
    base = live_console.url
    django_user_model.objects.create_user("olivia", password=PASSWORD)
    driver = browser

    log_in(driver, base, "olivia", screenshot="login")
    shot(driver, "applications-empty")

    # A built-in application: its keys are shown once.
    driver.find_element(By.LINK_TEXT, "New application").click()
    driver.find_element(By.ID, "id_name").send_keys("Photo archive")
    shot(driver, "application-new")

    # Baidu keys are tested before saving; wrong ones show the backend's own error (here the
    # engine plays the hosted service: the token is refused, the signed probe gets 14).
    driver.find_element(By.CSS_SELECTOR, "input[name=backend][value=baidu]").click()
    driver.find_element(By.ID, "id_base_url").send_keys(base)
    driver.find_element(By.ID, "id_app_id").send_keys("12345678")
    driver.find_element(By.ID, "id_api_key").send_keys("not-a-real-api-key")
    driver.find_element(By.ID, "id_secret_key").send_keys("not-a-real-secret")
    driver.find_element(By.CSS_SELECTOR, "[data-test-connection]").click()
    error = wait(driver).until(
        ec.visibility_of_element_located((By.CSS_SELECTOR, "[data-test-result] .wire-error"))
    )
    assert "14" in error.text and "IAM Certification failed" in error.text
    shot(driver, "application-new-baidu")
    driver.find_element(By.CSS_SELECTOR, "input[name=backend][value=builtin]").click()
    driver.find_element(By.CSS_SELECTOR, "form[data-app-form] button[type=submit].primary").click()
    wait(driver).until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-secret-once]")))
    secret = driver.find_element(By.ID, "secret-once").text
    assert len(secret) == 32
    shot(driver, "application-created")

    # The same_hq and similar libraries.
    for service in ("same_hq", "similar"):
        card = driver.find_element(By.CSS_SELECTOR, f"section[aria-labelledby=svc-{service}]")
        card.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait(driver).until(ec.url_contains("/libraries/"))
        driver.back()
        driver.refresh()
    application_url = driver.current_url
    shot(driver, "application-detail")
    same = Library.objects.get(service="same_hq")
    similar = Library.objects.get(service="similar")

    # Upload real photos, a file that is no image and a URL on a private address.
    junk = tmp_path / "notes.txt"
    junk.write_text("not an image")
    driver.get(f"{base}/libraries/{same.pk}/upload/")
    files = driver.find_element(By.ID, "id_files")
    files.send_keys("\n".join(str(p) for p in [*photo_files, junk]))
    driver.find_element(By.ID, "id_tags").send_keys("7")
    driver.find_element(By.ID, "id_urls").send_keys("http://127.0.0.1:9/private.jpg")
    driver.find_element(By.CSS_SELECTOR, "[data-upload-start]").click()
    lines = len(photo_files) + 1  # the URL is downloaded by the server: see the batch page

    def settled(d: Any) -> bool:
        items = d.find_elements(By.CSS_SELECTOR, "[data-results] li.result")
        done = [i for i in items if "status-indexed" in i.get_attribute("class")]
        bad = [i for i in items if "bad" in i.get_attribute("class")]
        return len(items) == lines and len(done) + len(bad) == lines

    wait(driver, 90).until(settled)
    results = driver.find_element(By.CSS_SELECTOR, "[data-results]").text
    assert "notes.txt" in results and "216201" in results
    assert Image.objects.filter(library=same, status="indexed").count() == len(photo_files)
    shot(driver, "upload")
    driver.find_element(By.CSS_SELECTOR, "[data-batch-link] a").click()
    wait(driver, 30).until(
        lambda d: "282113" in d.find_element(By.CSS_SELECTOR, "[data-batch-items]").text
    )
    batch_page = driver.find_element(By.CSS_SELECTOR, "[data-batch-items]").text
    assert "private" in batch_page and "notes.txt" in batch_page and "216201" in batch_page
    wait(driver, 30).until(
        lambda d: "Done" in d.find_element(By.CSS_SELECTOR, "[data-batch-status]").text
    )
    shot(driver, "batch")

    # The listing.
    driver.get(f"{base}/libraries/{same.pk}/")
    cells = driver.find_elements(By.CSS_SELECTOR, "ul.grid li.cell")
    assert len(cells) == len(photo_files)
    wait(driver).until(
        lambda d: all(
            d.execute_script("return arguments[0].naturalWidth", img) > 0
            for img in d.find_elements(By.CSS_SELECTOR, "ul.grid img")
        )
    )
    shot(driver, "library")

    # Search with a cropped, recompressed copy of the first photo: it comes back first.
    query = cropped_copy(photo_files[0], tmp_path / "query.jpg")
    driver.find_element(By.CSS_SELECTOR, "form[data-camera] [data-camera-file]").send_keys(
        str(query)
    )
    wait(driver, 60).until(ec.presence_of_element_located((By.CSS_SELECTOR, "ol.hits")))
    first = driver.find_element(By.CSS_SELECTOR, "ol.hits li.hit")
    assert photo_files[0].name in first.text
    score = float(first.find_element(By.CSS_SELECTOR, ".score").text)
    assert 0.5 < score <= 1.0
    shot(driver, "search")

    # Preview, then edit the brief.
    first.find_element(By.CSS_SELECTOR, "a.thumb").click()
    wait(driver).until(ec.presence_of_element_located((By.ID, "id_brief")))
    shot(driver, "preview")
    brief = driver.find_element(By.ID, "id_brief")
    brief.clear()
    brief.send_keys("Harbour at dusk")
    submit(driver, "form[action$='/edit/']")
    wait(driver, 30).until(
        lambda d: (
            d.find_element(By.CSS_SELECTOR, "h1.brief-title").text == "Harbour at dusk"
            and not d.find_elements(By.CSS_SELECTOR, "[data-pending]")
        )
    )
    shot(driver, "preview-edited")
    edited = Image.objects.get(library=same, brief="Harbour at dusk")

    # Delete it, with confirmation.
    driver.find_element(By.LINK_TEXT, "Delete…").click()
    shot(driver, "confirm-delete")
    submit(driver, "main form")
    wait(driver).until(ec.url_to_be(f"{base}/libraries/{same.pk}/"))
    assert "Harbour at dusk" not in driver.find_element(By.CSS_SELECTOR, "ul.grid").text
    assert len(driver.find_elements(By.CSS_SELECTOR, "ul.grid li.cell")) == len(photo_files) - 1
    edited.refresh_from_db()
    assert edited.status in ("deleting", "deleted")

    # Bulk: select all, delete needs a confirmation page.
    driver.find_element(By.CSS_SELECTOR, "[data-select-all]").click()
    driver.find_element(By.CSS_SELECTOR, "button[value=delete]").click()
    wait(driver).until(ec.presence_of_element_located((By.NAME, "confirmed")))
    shot(driver, "confirm-bulk-delete")
    driver.back()

    # A similar library ranks look-alikes: upload the whole folder, then one photo again,
    # which is refused as a duplicate with a link to the image already there.
    driver.get(f"{base}/libraries/{similar.pk}/upload/")
    driver.find_element(By.ID, "id_folder").send_keys(str(photo_files[0].parent))
    driver.find_element(By.CSS_SELECTOR, "[data-upload-start]").click()
    wait(driver, 60).until(
        lambda d: (
            len(d.find_elements(By.CSS_SELECTOR, "[data-results] li.status-indexed"))
            == len(photo_files)
        )
    )
    driver.find_element(By.ID, "id_files").send_keys(str(photo_files[0]))
    driver.find_element(By.CSS_SELECTOR, "[data-upload-start]").click()
    duplicate = wait(driver).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, "[data-results] li.bad a"))
    )
    assert (duplicate.get_attribute("href") or "").endswith(
        f"/images/{Image.objects.get(library=similar, brief=photo_files[0].name).pk}/"
    )
    shot(driver, "upload-folder-duplicate")
    driver.get(f"{base}/libraries/{similar.pk}/search/")
    driver.find_element(By.CSS_SELECTOR, "form[data-camera] [data-camera-file]").send_keys(
        str(query)
    )
    wait(driver, 60).until(ec.presence_of_element_located((By.CSS_SELECTOR, "ol.hits")))
    hits = driver.find_elements(By.CSS_SELECTOR, "ol.hits li.hit")
    assert len(hits) == len(photo_files) and photo_files[0].name in hits[0].text
    shot(driver, "search-similar")

    # Activity and usage of the application.
    driver.get(application_url)
    driver.find_element(By.CSS_SELECTOR, "nav.actions a[href$='/activity/']").click()
    assert "image.upload" in driver.page_source
    shot(driver, "activity")
    driver.find_element(By.CSS_SELECTOR, "nav.tabs a[href$='/usage/']").click()
    wait(driver).until(
        lambda d: d.execute_script(
            "return !!Chart.getChart(document.querySelector('[data-chart=outcome] canvas'))"
        )
    )
    shot(driver, "usage")
    driver.get(f"{base}/")
    shot(driver, "applications")

    # Narrow screens.
    driver.get(f"{base}/libraries/{same.pk}/")
    shot(driver, "library-narrow", width=390)

    # Simplified Chinese: choosing it is enough (no "Go"), and what was typed stays.
    assert not driver.find_element(By.CSS_SELECTOR, "form.lang button").is_displayed()
    driver.find_element(By.ID, "id_q").send_keys("typed before")
    Select(driver.find_element(By.ID, "language")).select_by_value("zh-hans")
    wait(driver).until(
        lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-hans"
    )
    assert driver.find_element(By.ID, "id_q").get_attribute("value") == "typed before"
    driver.find_element(By.ID, "id_q").clear()
    shot(driver, "library-zh")
    assert csp_refusals(driver) == []


def test_a_viewer_cannot_upload_and_an_outsider_gets_404(
    browser: Any, live_console: Any, django_user_model: Any
):
    base = live_console.url
    owner = django_user_model.objects.create_user("olivia", password=PASSWORD)
    viewer = django_user_model.objects.create_user("victor", password=PASSWORD)
    django_user_model.objects.create_user("oscar", password=PASSWORD)
    application = application_create(
        actor=owner, name="Shared", backend="builtin", services=["same_hq"]
    )
    library = library_create(actor=owner, application=application, service="same_hq")
    Membership.objects.create(user=viewer, application=application, role=Role.VIEWER)

    log_in(browser, base, "victor")
    browser.get(f"{base}/libraries/{library.pk}/")
    tabs = browser.find_element(By.CSS_SELECTOR, "nav.tabs").text
    assert "Upload" not in tabs
    browser.get(f"{base}/libraries/{library.pk}/upload/")
    assert "403" in browser.title or "403" in browser.find_element(By.TAG_NAME, "h1").text
    shot(browser, "forbidden")

    log_in(browser, base, "oscar")
    browser.get(f"{base}/libraries/{library.pk}/")
    assert "404" in browser.find_element(By.TAG_NAME, "h1").text
    browser.get(f"{base}/applications/{application.pk}/")
    assert "404" in browser.find_element(By.TAG_NAME, "h1").text
    shot(browser, "not-found")
    assert csp_refusals(browser) == []


def test_the_admin_runs_under_the_policy(browser: Any, live_console: Any, django_user_model: Any):
    base = live_console.url
    admin = django_user_model.objects.create_superuser("ada", password=PASSWORD)
    browser.get(f"{base}/admin/login/")
    browser.find_element(By.ID, "id_username").send_keys("ada")
    browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "#login-form [type=submit]").click()
    wait(browser).until(ec.url_to_be(f"{base}/admin/"))
    pages = ["auth/user/", f"auth/user/{admin.pk}/change/", "engine/engineapp/", "auth/group/add/"]
    for page in pages:
        browser.get(f"{base}/admin/{page}")
        wait(browser).until(ec.presence_of_element_located((By.ID, "content")))
    # The permissions' two-list chooser exists only once the admin's scripts have run.
    wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, ".selector-chooseall")))
    assert csp_refusals(browser) == []


def test_files_dropped_as_plain_file_objects_are_uploaded(
    browser: Any, live_console: Any, django_user_model: Any, photo_files: list[Path]
):
    """A drop whose items are no file-system entries (from another page, or a script: their
    `webkitGetAsEntry()` is null) still brings its files."""
    import base64

    base = live_console.url
    owner = django_user_model.objects.create_user("olivia", password=PASSWORD)
    application = application_create(
        actor=owner, name="Drops", backend="builtin", services=["similar"]
    )
    library = library_create(actor=owner, application=application, service="similar")
    log_in(browser, base, "olivia")
    browser.get(f"{base}/libraries/{library.pk}/upload/")
    dropped = photo_files[:2]
    browser.execute_script(
        """
        const transfer = new DataTransfer();
        for (const [name, data] of arguments[0]) {
          const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
          transfer.items.add(new File([bytes], name, { type: "image/jpeg" }));
        }
        if (transfer.items[0].webkitGetAsEntry() !== null) throw new Error("not a plain File");
        const zone = document.querySelector("[data-dropzone]");
        zone.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true }));
        """,
        [[p.name, base64.b64encode(p.read_bytes()).decode()] for p in dropped],
    )
    browser.find_element(By.CSS_SELECTOR, "[data-upload-start]").click()

    def indexed(d: Any) -> bool:
        items = d.find_elements(By.CSS_SELECTOR, "[data-results] li.result")
        return len(items) == len(dropped) and all(
            "status-indexed" in i.get_attribute("class") for i in items
        )

    wait(browser, 90).until(indexed)
    assert sorted(Image.objects.filter(library=library).values_list("brief", flat=True)) == sorted(
        p.name for p in dropped
    )
    assert csp_refusals(browser) == []


def test_an_owner_invites_a_teammate_who_sets_a_password_by_the_link(
    browser: Any, live_console: Any, django_user_model: Any
):
    base = live_console.url
    owner = django_user_model.objects.create_user("olivia", password=PASSWORD)
    application = application_create(
        actor=owner, name="Shared", backend="builtin", services=["same_hq"]
    )
    log_in(browser, base, "olivia")
    browser.get(f"{base}/applications/{application.pk}/#members")
    browser.find_element(By.ID, "id_account-username").send_keys("dana")
    browser.find_element(By.ID, "id_account-display_name").send_keys("Dana Li")
    Select(browser.find_element(By.ID, "id_account-role")).select_by_value("viewer")
    submit(browser, "form[data-account-form]")
    link = (
        wait(browser)
        .until(ec.visibility_of_element_located((By.CSS_SELECTOR, "[data-password-link] code")))
        .text
    )
    assert link.startswith(f"{base}/accounts/set-password/")
    shot(browser, "people-link")

    # The teammate, in their own browser: the link, a password, and they are in.
    browser.delete_all_cookies()
    browser.get(link)
    wait(browser).until(ec.url_to_be(f"{base}/accounts/set-password/"))
    browser.find_element(By.ID, "id_new_password1").send_keys("violet harbour 42 lanterns")
    browser.find_element(By.ID, "id_new_password2").send_keys("violet harbour 42 lanterns")
    shot(browser, "people-set-password")
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit].primary").click()
    wait(browser).until(ec.url_to_be(f"{base}/"))
    assert "dana" in browser.find_element(By.CSS_SELECTOR, "nav.account").text
    browser.get(f"{base}/applications/{application.pk}/")
    assert "Read-only" in browser.find_element(By.CSS_SELECTOR, "[data-read-only]").text
    shot(browser, "people-read-only")
    # The link worked once.
    browser.get(link)
    assert "This link does not work" in browser.find_element(By.CSS_SELECTOR, "main").text
    assert csp_refusals(browser) == []


def _phone(driver: Any, *, touch: bool = True) -> None:
    """A phone: 390 by 844 CSS pixels, a touch screen (pointer: coarse)."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True},
    )
    driver.execute_cdp_cmd(
        "Emulation.setTouchEmulationEnabled", {"enabled": touch, "maxTouchPoints": 5}
    )


def _phone_shot(driver: Any, name: str) -> None:
    """The phone's first screen, as the user sees it before scrolling."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.execute_script("window.scrollTo(0, 0)")
    time.sleep(0.15)
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def _in_language(code: str) -> Any:
    return lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == code


def _above_the_fold(driver: Any, selector: str) -> bool:
    return bool(
        driver.execute_script(
            "var e = document.querySelector(arguments[0]); if (!e) return false;"
            "var r = e.getBoundingClientRect(); return r.top >= 0 && r.top + 40 < innerHeight;",
            selector,
        )
    )


def test_on_a_phone_the_top_bar_is_one_line_and_results_come_above_the_fold(
    browser: Any, live_console: Any, django_user_model: Any, photo_files: list[Path]
):
    from django.utils import translation

    from gallery.services.uploads import image_upload

    base = live_console.url
    owner = django_user_model.objects.create_user("olivia", password=PASSWORD)
    application = application_create(
        actor=owner, name="Phone", backend="builtin", services=["similar"]
    )
    library = library_create(actor=owner, application=application, service="similar")
    for path in photo_files:
        image_upload(actor=owner, library=library, data=path.read_bytes(), filename=path.name)
    assert set(Image.objects.values_list("status", flat=True)) == {"indexed"}
    log_in(browser, base, "olivia")
    _phone(browser)
    assert browser.execute_script("return matchMedia('(pointer: coarse)').matches")
    for language in ("en", "zh-hans"):
        browser.get(f"{base}/libraries/{library.pk}/")
        if language != "en":  # the language is in the folded menu
            browser.find_element(By.CSS_SELECTOR, "[data-menu-toggle]").click()
            Select(browser.find_element(By.ID, "language")).select_by_value(language)
            wait(browser).until(_in_language("zh-hans"))
        bar = browser.find_element(By.CSS_SELECTOR, "header.topbar")
        assert bar.size["height"] <= 48, bar.size  # one line
        assert not browser.find_element(By.CSS_SELECTOR, "nav.account").is_displayed()
        # The filters and the bulk actions are folded: the images start on the first screen.
        assert _above_the_fold(browser, "ul.grid li.cell"), "grid below the fold"
        _phone_shot(browser, f"phone-library-{language}")
        # The menu opens and closes; it holds the account and the language.
        browser.find_element(By.CSS_SELECTOR, "[data-menu-toggle]").click()
        assert browser.find_element(By.CSS_SELECTOR, "nav.account").is_displayed()
        assert browser.find_element(By.ID, "language").is_displayed()
        _phone_shot(browser, f"phone-menu-{language}")
        browser.find_element(By.CSS_SELECTOR, "[data-menu-toggle]").click()
        assert not browser.find_element(By.CSS_SELECTOR, "nav.account").is_displayed()

        browser.get(f"{base}/libraries/{library.pk}/search/")
        browser.find_element(By.CSS_SELECTOR, "form[data-camera] [data-camera-file]").send_keys(
            str(photo_files[0])
        )
        wait(browser, 60).until(ec.presence_of_element_located((By.CSS_SELECTOR, "ol.hits")))
        _phone_shot(browser, f"phone-search-{language}")
        assert _above_the_fold(browser, "ol.hits li.hit")

        # Upload: the plain file chooser, no folder and no dropping on a touch screen.
        browser.get(f"{base}/libraries/{library.pk}/upload/")
        text = browser.find_element(By.TAG_NAME, "main").text
        with translation.override(language):
            hidden = [
                translation.gettext("Choose a folder…"),
                translation.gettext("Drop image files or a whole folder here"),
            ]
        assert all(words not in text for words in hidden), text
        assert "folder" not in text.lower() and "drop" not in text.lower()
        assert browser.find_element(By.CSS_SELECTOR, "label[for=id_files]").is_displayed()
        assert not browser.find_element(By.CSS_SELECTOR, "label[for=id_folder]").is_displayed()
        _phone_shot(browser, f"phone-upload-{language}")
    # A desktop with a mouse still offers both.
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    browser.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": False})
    Select(browser.find_element(By.ID, "language")).select_by_value("en")
    wait(browser).until(lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en")
    assert browser.find_element(By.CSS_SELECTOR, "label[for=id_folder]").is_displayed()
    assert "Drop image files" in browser.find_element(By.TAG_NAME, "main").text
    assert not browser.find_element(By.CSS_SELECTOR, "[data-menu-toggle]").is_displayed()
    assert csp_refusals(browser) == []


def test_select_all_matching_then_clear_their_tags(
    browser: Any, live_console: Any, django_user_model: Any
):
    from gallery.selectors.listing import PAGE_SIZE

    base = live_console.url
    owner = django_user_model.objects.create_user("olivia", password=PASSWORD)
    application = application_create(
        actor=owner, name="Many", backend="builtin", services=["same_hq"]
    )
    library = library_create(actor=owner, application=application, service="same_hq")
    n = PAGE_SIZE + 7

    def made(count: int, tag: int, start: int) -> None:
        Image.objects.bulk_create(
            Image(
                library=library,
                sha256=f"{start + i:064d}",
                width=100,
                height=100,
                bytes=1000,
                format="JPEG",
                brief=f"row-{start + i}.jpg",
                status="failed",
                tag1=tag,
            )
            for i in range(count)
        )

    made(n, 7, 0)
    made(3, 9, 1000)
    log_in(browser, base, "olivia")
    browser.get(f"{base}/libraries/{library.pk}/?tags=7")
    offer = browser.find_element(By.CSS_SELECTOR, "[data-matching-offer]")
    assert not offer.is_displayed()  # until the whole page is selected
    browser.find_element(By.CSS_SELECTOR, "[data-select-all]").click()
    assert offer.is_displayed() and f"Select all {n} matching" in offer.text
    assert f"All {PAGE_SIZE} on this page are selected." in offer.text
    browser.find_element(By.CSS_SELECTOR, "[data-select-matching]").click()
    count = browser.find_element(By.CSS_SELECTOR, "[data-selected-count]").text
    assert count == "All matching images selected"
    shot(browser, "library-select-all-matching")
    browser.find_element(By.CSS_SELECTOR, "button[value=untag]").click()
    wait(browser).until(ec.presence_of_element_located((By.NAME, "confirmed")))
    assert f"Clear the labels of {n} images?" in browser.find_element(By.TAG_NAME, "h1").text
    shot(browser, "confirm-bulk-untag")
    submit(browser, "main form")
    wait(browser).until(ec.url_contains(f"/libraries/{library.pk}/"))
    assert Image.objects.filter(tag1=7).count() == 0
    assert Image.objects.filter(tag1=9).count() == 3
    assert csp_refusals(browser) == []
