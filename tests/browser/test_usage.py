"""The usage page in a real browser: Chart.js draws the calls per day by outcome, operation and
service under the policy, legends and tooltips named in the page's language, the dates of the
axis thinned at 7, 30 and 90 days (screenshots usage-7.png, usage-30.png, usage-90.png,
usage-zh-30.png, usage-refused.png)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select

from gallery.models import ApiCall, Application, Membership, Role

from .conftest import csp_refusals
from .test_console import PASSWORD, log_in, shot, wait

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# What each chart's legend reads, in English and in Chinese.
LEGENDS = {
    "en": {
        "outcome": ["Succeeded", "Succeeded after a QPS limit", "Failed"],
        "operation": ["Add", "Search", "Update", "Delete"],
        "service": ["Same image", "Similar image"],
    },
    "zh-hans": {
        "outcome": ["成功", "QPS 限流后重试成功", "失败"],
        "operation": ["入库", "检索", "更新", "删除"],
        "service": ["相同图检索", "相似图检索"],
    },
}

CHARTS_JS = """
return Array.from(document.querySelectorAll('[data-chart]')).map(function (figure) {
  var chart = window.Chart && Chart.getChart(figure.querySelector('canvas'));
  return chart ? {
    key: figure.dataset.chart,
    legend: chart.legend.legendItems.map(function (item) { return item.text; }),
    ticks: chart.scales.x.ticks.map(function (tick) {
      return chart.scales.x.getLabelForValue(tick.value);
    }),
    numbersOpen: figure.querySelector('details').open
  } : {key: figure.dataset.chart, legend: null};
});
"""


def seed_calls(application: Application) -> None:
    """95 days of calls: every day some adds and searches, and on some days QPS limits backed
    off from, an update, a delete, real failures."""
    now = timezone.now()
    for day in range(95):
        rows = []
        for i in range(3 + day * 7 % 11):
            service = "same_hq" if i % 3 else "similar"
            rows.append(ApiCall(service=service, operation="search" if i % 2 else "add"))
        if day % 3 == 0:
            rows += [
                ApiCall(service="same_hq", operation="add", error_code="18", retried=True),
                ApiCall(service="same_hq", operation="add", qps_retries=1),
            ]
        if day % 4 == 1:
            rows += [
                ApiCall(service="similar", operation="update"),
                ApiCall(service="similar", operation="delete", error_code="216680"),
            ]
        for row in rows:
            row.application = application
            row.latency_ms = 20.0
        made = ApiCall.objects.bulk_create(rows)
        ApiCall.objects.filter(pk__in=[row.pk for row in made]).update(
            created_at=now - timedelta(days=day)
        )


def charts(driver: Any) -> list[dict[str, Any]]:
    wait(driver).until(lambda d: all(c["legend"] is not None for c in d.execute_script(CHARTS_JS)))
    drawn: list[dict[str, Any]] = driver.execute_script(CHARTS_JS)
    return drawn


def test_usage_charts_name_their_series_and_thin_their_dates(
    live_console: Any, browser: Any, django_user_model: Any
) -> None:
    owner = django_user_model.objects.create_user("olivia", password=PASSWORD)
    application = Application.objects.create(
        name="Shop",
        backend=Application.Backend.BAIDU,
        base_url="https://aip.baidubce.com",
        app_id="1234567",
        api_key="key",
        secret_key="secret",
        services=["same_hq", "similar"],
        qps=0,
    )
    Membership.objects.create(user=owner, application=application, role=Role.OWNER)
    seed_calls(application)
    base = live_console.url
    usage_url = f"{base}/applications/{application.pk}/usage/"
    log_in(browser, base, "olivia")

    for days in (7, 30, 90):
        browser.get(f"{usage_url}?days={days}")
        drawn = charts(browser)
        assert [c["key"] for c in drawn] == ["outcome", "operation", "service"]
        assert {c["key"]: c["legend"] for c in drawn} == LEGENDS["en"]
        # The tables fold once their charts are drawn; the dates are thinned to fit.
        assert not any(c["numbersOpen"] for c in drawn)
        ticks = drawn[0]["ticks"]
        assert 3 <= len(ticks) <= min(days, 16), ticks
        assert all(re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}", tick) for tick in ticks), ticks
        shot(browser, f"usage-{days}")

    # A tooltip names the day in full and each series with its count.
    browser.get(f"{usage_url}?days=30")
    charts(browser)
    canvas = browser.find_element(By.CSS_SELECTOR, "[data-chart=outcome] canvas")
    ActionChains(browser).move_to_element(canvas).perform()
    tooltip = wait(browser).until(
        lambda d: d.execute_script(
            "var t = Chart.getChart(arguments[0]).tooltip;"
            "return t.opacity > 0 ? {title: t.title, body: t.body.map(function (b) {"
            " return b.lines.join(' '); }), footer: t.footer} : null;",
            canvas,
        )
    )
    assert re.fullmatch(r"[A-Z][a-z]{2}, [A-Z][a-z]{2} \d{1,2}, \d{4}", tooltip["title"][0])
    assert any(line.startswith("Succeeded: ") for line in tooltip["body"])
    assert tooltip["footer"][0].startswith("Total: ")
    shot(browser, "usage-tooltip")

    browser.get(f"{usage_url}?days=5")
    alert = browser.find_element(By.CSS_SELECTOR, "[role=alert]").text
    assert "“5” is not a period this page offers: choose 7, 30 or 90 days." in alert
    assert not browser.find_elements(By.CSS_SELECTOR, "canvas")
    shot(browser, "usage-refused")

    # Chinese: legends, ticks and tooltips follow the page's language.
    browser.get(f"{usage_url}?days=30")
    Select(browser.find_element(By.ID, "language")).select_by_value("zh-hans")
    wait(browser).until(
        lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-hans"
    )
    wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-chart] canvas")))
    drawn = charts(browser)
    assert {c["key"]: c["legend"] for c in drawn} == LEGENDS["zh-hans"]
    assert all(re.fullmatch(r"\d{1,2}月\d{1,2}日", tick) for tick in drawn[0]["ticks"])
    shot(browser, "usage-zh-30")
    browser.get(f"{usage_url}?days=90")
    charts(browser)
    shot(browser, "usage-zh-90")
    assert csp_refusals(browser) == []
