"""An Alibaba instance in a real browser: a built-in application on the Alibaba wire and its
AccessKey, a product instance, real photos uploaded with product ids and attributes, the
listing filtered by product, a search with a crop that finds the original with its subject
box, a box drawn on the query picture, a filter on an attribute, the compare page, deleting a
whole product, and copying a Baidu library of the built-in engine into the instance.

Every page visited is saved as a screenshot named ``aliyun-*`` (see conftest.SCREENSHOTS).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select

from engine.models import AliyunImage
from gallery.models import Application, ImageStatus, Library, Picture
from gallery.services.applications import application_create
from gallery.services.libraries import library_create

from .conftest import cropped_copy, csp_refusals
from .test_console import PASSWORD, log_in, shot, wait

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# What each upload gives its files: (product id, IntAttr, StrAttr); the last product has two
# pictures, sent as one batch.
PRODUCTS = [("sku-canvas", 10, "blue"), ("sku-dragonfly", 20, "green"), ("sku-outdoor", 30, "grey")]


def box_of(text: str) -> tuple[int, int, int, int]:
    """ "x1,x2,y1,y2" as the search page shows the region it searched with."""
    x1, x2, y1, y2 = (int(v) for v in text.split(","))
    return x1, x2, y1, y2


def fill(driver: Any, field_id: str, value: str) -> None:
    element = driver.find_element(By.ID, field_id)
    element.clear()
    element.send_keys(value)


def placed(driver: Any, element: WebElement) -> bool:
    """Whether subject.js has laid a box over the query picture (a box has no size before)."""
    size = element.size
    return bool(size["width"] > 4 and size["height"] > 4)


def test_an_alibaba_instance_from_its_application_to_a_copy_into_it(
    browser: Any,
    live_console: Any,
    django_user_model: Any,
    picture_files: list[Path],
    tmp_path: Path,
) -> None:
    base = live_console.url
    django_user_model.objects.create_user("olivia", password=PASSWORD)
    driver = browser
    log_in(driver, base, "olivia")

    # A built-in application on the Alibaba wire: no services to tick, the AccessKey shown once.
    driver.get(f"{base}/applications/new/")
    driver.find_element(By.ID, "id_name").send_keys("Shop")
    driver.find_element(By.CSS_SELECTOR, "input[name=backend][value=builtin_aliyun]").click()
    hint = driver.find_element(By.CSS_SELECTOR, "p[data-backend-only=builtin_aliyun]")
    assert hint.is_displayed() and "AccessKey" in hint.text
    services = driver.find_element(By.CSS_SELECTOR, "div[data-backend-only='builtin baidu']")
    assert not services.is_displayed()
    shot(driver, "aliyun-application-new")
    driver.find_element(By.CSS_SELECTOR, "form[data-app-form] button[type=submit].primary").click()
    once = wait(driver).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, "[data-secret-once]"))
    )
    application = Application.objects.get()
    assert application.backend == "builtin_aliyun"
    assert "AccessKey ID" in once.text and application.api_key in once.text
    assert driver.find_element(By.ID, "secret-once").text == str(application.secret_key)
    application_url = driver.current_url
    driver.refresh()
    assert not driver.find_elements(By.CSS_SELECTOR, "[data-secret-once]")
    assert str(application.secret_key) not in driver.page_source

    # A product instance, created in the engine from the application's page.
    form = driver.find_element(By.CSS_SELECTOR, "form[data-instance-form]")
    fill(driver, "id_instance_name", "photos")
    Select(driver.find_element(By.ID, "id_service")).select_by_value("product")
    fill(driver, "id_capacity", "1000")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(driver).until(ec.url_contains("/libraries/"))
    library = Library.objects.get(application=application)
    assert (library.instance_name, library.service) == ("photos", "product")
    driver.get(application_url)
    card = driver.find_element(By.CSS_SELECTOR, "section[data-instance=photos]")
    assert "0 of 1,000 images" in card.text
    shot(driver, "aliyun-application")

    # Upload the photos with a product id and two attributes each, through the file input.
    driver.get(f"{base}/libraries/{library.pk}/upload/")
    assert not driver.find_elements(By.ID, "id_tags")
    groups = [[picture_files[0]], [picture_files[1]], picture_files[2:]]
    sent = 0
    for files, (product, int_attr, str_attr) in zip(groups, PRODUCTS, strict=True):
        fill(driver, "id_product_id", product)
        fill(driver, "id_int_attr1", str(int_attr))
        fill(driver, "id_str_attr1", str_attr)
        driver.find_element(By.ID, "id_files").send_keys("\n".join(str(p) for p in files))
        driver.find_element(By.CSS_SELECTOR, "[data-upload-start]").click()
        sent += len(files)

        def settled(d: Any, lines: int = sent) -> bool:
            items = d.find_elements(By.CSS_SELECTOR, "[data-results] li.result")
            done = [i for i in items if "status-indexed" in (i.get_attribute("class") or "")]
            bad = [i.text for i in items if "bad" in (i.get_attribute("class") or "")]
            assert not bad, bad
            return len(done) == lines

        wait(driver, 60).until(settled)
    shot(driver, "aliyun-upload")
    pictures = {p.pic_name: p for p in Picture.objects.select_related("image")}
    assert sorted(pictures) == sorted(p.name for p in picture_files)
    assert {p.image.status for p in pictures.values()} == {ImageStatus.INDEXED}
    first = pictures[picture_files[0].name]
    assert (first.product_id, first.int_attr1, first.str_attr1) == ("sku-canvas", 10, "blue")
    assert {pictures[p.name].product_id for p in picture_files[2:]} == {"sku-outdoor"}

    # The listing shows every picture's product; filtering by product id keeps its pictures.
    driver.get(f"{base}/libraries/{library.pk}/")
    products = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "ul.grid a[data-product]")]
    assert sorted(products) == ["sku-canvas", "sku-dragonfly", "sku-outdoor", "sku-outdoor"]
    wait(driver).until(
        lambda d: all(
            d.execute_script("return arguments[0].naturalWidth", img) > 0
            for img in d.find_elements(By.CSS_SELECTOR, "ul.grid img")
        )
    )
    shot(driver, "aliyun-library")
    filters = driver.find_element(By.CSS_SELECTOR, "form.filters")
    product_filter = filters.find_element(By.NAME, "product_id")
    product_filter.send_keys("sku-outdoor")
    filters.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(driver).until(ec.url_contains("product_id=sku-outdoor"))
    names = [c.text for c in driver.find_elements(By.CSS_SELECTOR, "ul.grid li.cell .brief")]
    assert sorted(names) == sorted(p.name for p in picture_files[2:])

    # Search with the middle 70 % of the first photo from the listing's camera box: the
    # original comes first with its score, and the subject the engine detected is boxed.
    query = cropped_copy(picture_files[0], tmp_path / "query.jpg")
    driver.get(f"{base}/libraries/{library.pk}/")
    driver.find_element(By.CSS_SELECTOR, "form[data-camera] [data-camera-file]").send_keys(
        str(query)
    )
    wait(driver, 60).until(ec.presence_of_element_located((By.CSS_SELECTOR, "ol.hits")))
    hits = driver.find_elements(By.CSS_SELECTOR, "ol.hits li.hit")
    assert len(hits) == len(picture_files)
    assert hits[0].find_element(By.CSS_SELECTOR, ".brief").text == picture_files[0].name
    assert hits[0].get_attribute("data-product") == "sku-canvas"
    score = float(hits[0].find_element(By.CSS_SELECTOR, ".score").text)
    scores = [(h.get_attribute("data-product"), h.get_attribute("data-score")) for h in hits]
    assert 0.5 < score <= 1.0, scores
    assert score > float(hits[1].find_element(By.CSS_SELECTOR, ".score").text)
    frame = driver.find_element(By.CSS_SELECTOR, "[data-subject-result]")
    image = frame.find_element(By.TAG_NAME, "img")
    wait(driver).until(lambda d: d.execute_script("return arguments[0].naturalWidth", image) > 0)
    used = frame.find_element(By.CSS_SELECTOR, ".box.used")
    wait(driver).until(lambda d: placed(d, used))
    detected = box_of(driver.find_element(By.CSS_SELECTOR, "[data-used-region]").text)
    assert used.get_attribute("data-box") == ",".join(map(str, detected))
    width, height = int(frame.get_attribute("data-width")), int(frame.get_attribute("data-height"))
    assert 0 <= detected[0] < detected[1] <= width and 0 <= detected[2] < detected[3] <= height
    shot(driver, "aliyun-search")

    # Drag a box over the top-left quarter of the query picture: the page searches again with
    # that region (in the picture's pixels, not the screen's), without choosing the file again.
    shown = image.size
    actions = ActionChains(driver)
    # Offsets are from the element's centre.
    actions.move_to_element_with_offset(image, -shown["width"] // 2 + 10, -shown["height"] // 2 + 8)
    actions.click_and_hold().move_by_offset(shown["width"] // 4, shown["height"] // 4)
    actions.move_by_offset(shown["width"] // 4, shown["height"] // 4).release().perform()
    wait(driver, 60).until(ec.staleness_of(frame))
    region_text = wait(driver, 60).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, "[data-used-region]"))
    )
    drawn = box_of(region_text.text)
    scale = width / shown["width"]
    expected = (10 * scale, (10 + shown["width"] // 2) * scale)
    assert drawn != detected
    assert abs(drawn[0] - expected[0]) < width * 0.03 and abs(drawn[1] - expected[1]) < width * 0.03
    assert drawn[2] < height * 0.1 and abs(drawn[3] - height * 0.5) < height * 0.06
    assert driver.find_element(By.CSS_SELECTOR, "[data-subject-result] .box.used")
    assert driver.find_element(By.ID, "id_region").get_attribute("value") == region_text.text
    assert driver.find_elements(By.CSS_SELECTOR, "ol.hits li.hit")

    # A filter row: IntAttr = the second photo's value. Searching with the first photo's crop
    # again, only the second photo comes back.
    fill(driver, "id_region", "")
    Select(driver.find_element(By.ID, "id_f1_field")).select_by_value("int_attr")
    Select(driver.find_element(By.ID, "id_f1_op")).select_by_value("=")
    fill(driver, "id_f1_value", str(PRODUCTS[1][1]))
    before = driver.find_element(By.CSS_SELECTOR, "ol.hits")
    driver.find_element(By.CSS_SELECTOR, "form[data-camera] [data-camera-file]").send_keys(
        str(query)
    )
    wait(driver, 60).until(ec.staleness_of(before))
    hits = wait(driver, 60).until(
        ec.presence_of_all_elements_located((By.CSS_SELECTOR, "ol.hits li.hit"))
    )
    assert [h.get_attribute("data-product") for h in hits] == ["sku-dragonfly"]
    assert hits[0].find_element(By.CSS_SELECTOR, ".brief").text == picture_files[1].name
    assert "1 matching picture" in driver.find_element(By.ID, "hits-title").text
    shot(driver, "aliyun-search-filter")

    # Compare: the crop scores higher against its original than against another photo.
    driver.find_element(By.LINK_TEXT, "Compare two pictures").click()

    def compare(other: Path) -> float:
        driver.find_element(By.ID, "id_first").send_keys(str(query))
        driver.find_element(By.ID, "id_second").send_keys(str(other))
        page = driver.find_element(By.TAG_NAME, "main")
        driver.find_element(By.CSS_SELECTOR, "main form button[type=submit].primary").click()
        wait(driver, 60).until(ec.staleness_of(page))
        result = wait(driver, 60).until(
            ec.presence_of_element_located((By.CSS_SELECTOR, "[data-compare-result] [data-score]"))
        )
        return float(result.text)

    unrelated = compare(picture_files[1])
    same = compare(picture_files[0])
    assert 0.5 < same <= 1.0 and unrelated < same
    shot(driver, "aliyun-compare")
    assert re.search(r"Score: \d\.\d\d", driver.find_element(By.TAG_NAME, "main").text)

    # Delete a whole product from its listing, confirmed by typing what the page asks for.
    outdoor = picture_files[2:]
    driver.get(f"{base}/libraries/{library.pk}/?product_id=sku-outdoor")
    driver.find_element(By.CSS_SELECTOR, "a[data-delete-product]").click()
    preview = wait(driver).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, "[data-preview]"))
    )
    assert "2 of Tuku's pictures match" in preview.text
    words = preview.find_element(By.CSS_SELECTOR, "form p code").text
    fill(driver, "id_confirm", words)
    shot(driver, "aliyun-delete-product")
    fill(driver, "id_confirm", words[:-1])
    submit = driver.find_element(By.CSS_SELECTOR, "[data-preview] button[type=submit].danger")
    submit.click()
    wait(driver).until(ec.staleness_of(submit))
    error = driver.find_element(By.CSS_SELECTOR, "[data-preview] .field-error")
    assert words in error.text
    assert Picture.objects.filter(image__status=ImageStatus.INDEXED).count() == 4
    fill(driver, "id_confirm", words)
    driver.find_element(By.CSS_SELECTOR, "[data-preview] button[type=submit].danger").click()
    wait(driver).until(ec.url_to_be(f"{base}/libraries/{library.pk}/"))

    def listed(d: Any) -> list[str]:
        d.refresh()
        return sorted(c.text for c in d.find_elements(By.CSS_SELECTOR, "ul.grid li.cell .brief"))

    wait(driver, 30).until(lambda d: listed(d) == sorted(p.name for p in picture_files[:2]))
    assert not AliyunImage.objects.filter(instance__name="photos", product_id="sku-outdoor")

    # Copy a Baidu library of the built-in engine into the instance: a preview of how its
    # fields map, then the job. Its photos are the two just deleted from the instance.
    owner = django_user_model.objects.get(username="olivia")
    archive = application_create(
        actor=owner, name="Archive", backend="builtin", services=["similar"]
    )
    baidu = library_create(actor=owner, application=archive, service="similar")
    driver.get(f"{base}/libraries/{baidu.pk}/upload/")
    driver.find_element(By.ID, "id_files").send_keys("\n".join(str(p) for p in outdoor))
    driver.find_element(By.ID, "id_tags").send_keys("7")
    driver.find_element(By.CSS_SELECTOR, "[data-upload-start]").click()
    wait(driver, 60).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "[data-results] li.status-indexed")) == 2
    )
    driver.get(f"{base}/libraries/{baidu.pk}/copy/")
    Select(driver.find_element(By.ID, "id_target")).select_by_value(str(library.pk))
    driver.find_element(By.CSS_SELECTOR, "main form[method=get] button[type=submit]").click()
    copy = wait(driver).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, "[data-copy-preview]"))
    )
    assert "2 images will be uploaded" in copy.find_element(By.CSS_SELECTOR, "[data-counts]").text
    assert len(copy.find_elements(By.CSS_SELECTOR, "[data-rows] tbody tr")) == 2
    assert copy.find_elements(By.CSS_SELECTOR, "[data-mapping] tbody tr")
    shot(driver, "aliyun-copy-preview")
    copy.find_element(By.CSS_SELECTOR, "form[method=post] button[type=submit].primary").click()
    wait(driver).until(ec.url_contains("/batches/"))
    wait(driver, 60).until(
        lambda d: "Done" in d.find_element(By.CSS_SELECTOR, "[data-batch-status]").text
    )
    shot(driver, "aliyun-copy-job")
    copied = Picture.objects.filter(
        image__library=library,
        image__status=ImageStatus.INDEXED,
        pic_name__in=[p.name for p in outdoor],
    )
    assert sorted(copied.values_list("pic_name", flat=True)) == sorted(p.name for p in outdoor)
    driver.get(f"{base}/libraries/{library.pk}/")
    assert listed(driver) == sorted(p.name for p in picture_files)
    assert csp_refusals(driver) == []
