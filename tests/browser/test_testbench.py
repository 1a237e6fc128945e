"""The search test bench in a real browser: an editor builds a test set from stored photos
with three transforms, adds a mislabelled query, runs it and reads the scorecard with the
failing query; a second library is run and compared; the scorecard in Chinese.

Screenshots: testbench-*.png (see conftest.SCREENSHOTS).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select

from gallery.models import Image, TestRun, TestSet
from gallery.services.applications import application_create
from gallery.services.libraries import library_create
from gallery.services.uploads import image_upload

from .conftest import csp_refusals
from .test_console import PASSWORD, log_in, shot, wait

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_test_set_built_run_scored_and_compared(
    browser: Any, live_console: Any, django_user_model: Any, photo_files: list[Path]
):
    base = live_console.url
    driver = browser
    owner = django_user_model.objects.create_user("olivia", password=PASSWORD)
    application = application_create(
        actor=owner, name="Photo archive", backend="builtin", services=["same_hq"]
    )
    library = library_create(actor=owner, application=application, service="same_hq")
    for path in photo_files[:4]:
        image_upload(actor=owner, library=library, data=path.read_bytes(), filename=path.name)
    assert set(Image.objects.values_list("status", flat=True)) == {"indexed"}
    # A copy of the library on a second application that lacks the second photo.
    backup = application_create(actor=owner, name="Backup", backend="builtin", services=["same_hq"])
    copy = library_create(actor=owner, application=backup, service="same_hq")
    for path in (photo_files[0], *photo_files[2:4]):
        image_upload(actor=owner, library=copy, data=path.read_bytes(), filename=path.name)

    log_in(driver, base, "olivia")
    driver.get(f"{base}/libraries/{library.pk}/")
    driver.find_element(By.LINK_TEXT, "Test bench").click()
    driver.find_element(By.ID, "id_name").send_keys("Before launch")
    shot(driver, "testbench-sets")
    driver.find_element(By.CSS_SELECTOR, "form[data-testset-new] button[type=submit]").click()
    wait(driver).until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-testset-build]")))

    # Three stored photos (the newest: the second to the fourth), three transforms.
    build = driver.find_element(By.CSS_SELECTOR, "form[data-testset-build]")
    for box in build.find_elements(By.CSS_SELECTOR, "input[name=images]")[:3]:
        box.click()
    for name in ("jpeg_q30", "flip", "text_overlay"):
        build.find_element(By.CSS_SELECTOR, f"input[name=transforms][value={name}]").click()
    shot(driver, "testbench-build")
    build.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(driver).until(
        ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".messages"), "9 queries")
    )

    # A photo named as another one's: it must fail.
    add = driver.find_element(By.CSS_SELECTOR, "form[data-testquery-add]")
    add.find_element(By.ID, "id_image").send_keys(str(photo_files[0]))
    Select(add.find_element(By.ID, "id_expected")).select_by_value("first")
    wrong = Image.objects.get(library=library, brief=photo_files[1].name)
    add.find_element(By.CSS_SELECTOR, f"input[name=expected_images][value='{wrong.pk}']").click()
    add.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(driver).until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".messages"), "Query"))
    assert len(driver.find_elements(By.CSS_SELECTOR, "[data-queries] > li")) == 10
    shot(driver, "testbench-set")

    # Run it against its own library: progress, then the scorecard.
    driver.find_element(By.CSS_SELECTOR, "form[data-testset-run] button[type=submit]").click()
    wait(driver, 120).until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-scorecard]")))
    run = TestRun.objects.get()
    assert run.status == "done"
    overall = driver.find_element(By.CSS_SELECTOR, "tr[data-transform=all]")
    assert overall.find_element(By.CSS_SELECTOR, "[data-r1]").text == "0.900"
    failing = driver.find_elements(By.CSS_SELECTOR, "[data-failing] > li")
    assert len(failing) == 1 and photo_files[0].name in failing[0].text
    assert photo_files[1].name in failing[0].text
    shot(driver, "testbench-scorecard")

    # The same set against the copy, then both side by side.
    driver.get(f"{base}/testsets/{TestSet.objects.get().pk}/")
    Select(driver.find_element(By.ID, "id_library")).select_by_visible_text(str(copy))
    driver.find_element(By.CSS_SELECTOR, "form[data-testset-run] button[type=submit]").click()
    wait(driver, 120).until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-scorecard]")))
    driver.find_element(By.CSS_SELECTOR, "[data-compare-links] a").click()
    wait(driver).until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-disagree]")))
    assert len(driver.find_elements(By.CSS_SELECTOR, "[data-compare] [data-scorecard]")) == 2
    # The second photo's three queries are right on the library and wrong on the copy.
    assert len(driver.find_elements(By.CSS_SELECTOR, "[data-disagree] > li")) == 3
    shot(driver, "testbench-compare")

    # In Chinese.
    driver.get(f"{base}/testruns/{run.pk}/")
    Select(driver.find_element(By.ID, "language")).select_by_value("zh-hans")
    wait(driver).until(
        lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-hans"
    )
    assert "评分" in driver.find_element(By.TAG_NAME, "h1").text
    shot(driver, "testbench-scorecard-zh")
    driver.get(f"{base}/testsets/{run.test_set_id}/")
    shot(driver, "testbench-set-zh")
    assert csp_refusals(driver) == []
