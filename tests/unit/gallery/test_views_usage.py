"""The usage page: calls per day by outcome (a QPS limit backed off from is not a failure), by
operation and by service, named in the page's language; a period it does not offer refused."""

from __future__ import annotations

import functools
import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from gallery.backends import baidu as baidu_backend
from gallery.backends.calls import call_save
from gallery.models import ApiCall, ImageStatus
from gallery.selectors.usage import application_usage
from tests.unit.gallery.kit import upload_committed

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer(client, personas):
    client.force_login(personas["viewer"])
    return client


def usage_url(application: Any) -> str:
    return reverse("gallery:usage", args=[application.pk])


def record(application: Any, *, days_ago: int = 0, **fields: Any) -> None:
    """One call as the wire clients report it, `days_ago` days back."""
    values: dict[str, Any] = {
        "service": "same_hq",
        "operation": "add",
        "error_code": None,
        "error_msg": "",
        "latency_ms": 5.0,
    }
    call_save(application.pk, **(values | fields))
    call = ApiCall.objects.latest("id")
    ApiCall.objects.filter(pk=call.pk).update(created_at=timezone.now() - timedelta(days=days_ago))


def chart_data(html: str) -> dict[str, Any]:
    found = re.search(r'<script id="usage-data" type="application/json">(.*?)</script>', html)
    assert found, "no usage-data JSON on the page"
    data: dict[str, Any] = json.loads(found.group(1))
    return data


@pytest.fixture
def no_backoff_wait(monkeypatch):
    """The Baidu client's back-off on 18 without its one-second sleep."""
    real = baidu_backend.BaiduClient
    monkeypatch.setattr(
        baidu_backend, "BaiduClient", functools.partial(real, sleep=lambda _seconds: None)
    )


def test_a_qps_limit_backed_off_and_retried_counts_as_retried_not_failed(
    viewer, application, library, personas, commit, baidu, no_backoff_wait
):
    baidu.fail("same_hq", "add", 18)  # "Open api qps request limit reached", then success
    image = upload_committed(library, personas, 1, commit)
    image.refresh_from_db()
    assert image.status == ImageStatus.INDEXED
    calls = list(ApiCall.objects.order_by("id").values_list("error_code", "retried", "qps_retries"))
    assert calls == [("18", True, 0), ("", False, 1)]

    usage = application_usage(application, days=7)
    assert (usage.total, usage.succeeded, usage.retried, usage.failed) == (1, 0, 1, 0)
    assert usage.backed_off == 1 and usage.errors == []
    html = viewer.get(usage_url(application)).content.decode()
    assert (
        "1 calls in this period: 0 succeeded at once, 1 succeeded after a QPS limit, 0 failed."
        in html
    )
    assert "No failed call in this period." in html
    assert "Open api qps request limit reached" not in html.split("<main")[1]


def test_calls_per_day_split_into_succeeded_retried_and_failed(viewer, application):
    record(application)
    record(application)
    record(application, error_code=18, error_msg="qps", retried=True)
    record(application, qps_retries=1)
    record(application, days_ago=1, error_code=216681, error_msg="item exist")
    # Given up after five QPS limits: the operation failed for real.
    record(application, days_ago=1, error_code=18, error_msg="qps", qps_retries=4)
    record(application, days_ago=40)  # outside the period

    usage = application_usage(application, days=30)
    today, yesterday = usage.days[-1], usage.days[-2]
    assert usage.by_outcome["succeeded"] == {today: 2}
    assert usage.by_outcome["retried"] == {today: 1}
    assert usage.by_outcome["failed"] == {yesterday: 2}
    assert (usage.total, usage.failed, usage.backed_off) == (5, 2, 1)
    assert [(code, n) for code, _msg, n in usage.errors] == [("18", 1), ("216681", 1)]

    html = viewer.get(usage_url(application)).content.decode()
    assert (
        "5 calls in this period: 2 succeeded at once, 1 succeeded after a QPS limit, 2 failed."
        in html
    )
    assert "Besides, 1 answers were a QPS limit" in html
    outcome = chart_data(html)["charts"]["outcome"]
    assert [s["label"] for s in outcome] == ["Succeeded", "Succeeded after a QPS limit", "Failed"]
    assert [s["data"][-2:] for s in outcome] == [[0, 2], [0, 1], [2, 0]]
    # The table under the chart holds the same numbers: today's row, then its total.
    today_row = html.split(f'<time datetime="{today.isoformat()}">')[1].split("</tr>")[0]
    assert re.findall(r"<td>(\d+)</td>", today_row) == ["2", "1", "0", "3"]


def test_calls_per_day_split_by_operation_for_both_wires(viewer, application):
    for operation in ("add", "add", "search", "update", "delete"):
        record(application, operation=operation)
    for action in ("AddImage", "SearchImageByPic", "SearchImageByName", "Detail"):
        record(application, service="shoes", operation=action)
    record(application, operation="search", error_code=18, retried=True)  # not a call

    usage = application_usage(application, days=7)
    today = usage.days[-1]
    assert usage.operations == ["add", "search", "update", "delete", "other"]
    assert {kind: days[today] for kind, days in usage.by_operation.items()} == {
        "add": 3,
        "search": 3,
        "update": 1,
        "delete": 1,
        "other": 1,
    }
    data = chart_data(viewer.get(usage_url(application), {"days": "7"}).content.decode())
    operation = data["charts"]["operation"]
    assert [(s["label"], s["data"][-1]) for s in operation] == [
        ("Add", 3),
        ("Search", 3),
        ("Update", 1),
        ("Delete", 1),
        ("Other", 1),
    ]
    assert len(data["days"]) == 7 and data["days"][-1] == today.isoformat()


def test_services_are_named_not_coded_in_the_legend_data(viewer, application):
    record(application, service="same_hq")
    record(application, service="similar")
    record(application, service="product", days_ago=2)
    record(application, service="shoes-instance")  # an Alibaba instance: its own name
    html = viewer.get(usage_url(application)).content.decode()
    labels = [s["label"] for s in chart_data(html)["charts"]["service"]]
    assert labels == ["Same image", "Similar image", "Product", "shoes-instance"]
    assert "same_hq" not in json.dumps(chart_data(html))


@pytest.mark.parametrize("days", ["5", "abc", "", "365", "30.0"])
def test_a_period_not_offered_is_refused_with_a_message_and_400(viewer, application, days):
    record(application)
    response = viewer.get(usage_url(application), {"days": days})
    assert response.status_code == 400
    html = response.content.decode()
    assert f"“{days}” is not a period this page offers: choose 7, 30 or 90 days." in html
    assert 'id="usage-data"' not in html and "calls in this period" not in html
    for offered in (7, 30, 90):
        assert f'href="?days={offered}"' in html


@pytest.mark.parametrize("days", [7, 30, 90])
def test_the_offered_periods_are_answered(viewer, application, days):
    record(application, days_ago=days - 1)
    record(application, days_ago=days)  # the day before the period
    response = viewer.get(usage_url(application), {"days": str(days)})
    assert response.status_code == 200 and response.context["span"] == days
    data = chart_data(response.content.decode())
    assert len(data["days"]) == days
    assert sum(sum(s["data"]) for s in data["charts"]["outcome"]) == 1
    assert f'href="?days={days}" aria-current="page"' in response.content.decode()


def test_the_period_defaults_to_30_days(viewer, application):
    response = viewer.get(usage_url(application))
    assert response.status_code == 200 and response.context["span"] == 30
    assert len(chart_data(response.content.decode())["days"]) == 30


def test_chinese_labels_for_outcomes_operations_services_and_the_refusal(viewer, application):
    record(application, service="same_hq", operation="search")
    record(application, service="similar", operation="add", error_code=216681)
    html = viewer.get(usage_url(application), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert '<html lang="zh-hans">' in html
    data = chart_data(html)
    assert [s["label"] for s in data["charts"]["outcome"]] == ["成功", "QPS 限流后重试成功", "失败"]
    assert [s["label"] for s in data["charts"]["operation"]] == ["入库", "检索"]
    assert [s["label"] for s in data["charts"]["service"]] == ["相同图检索", "相似图检索"]
    assert data["texts"] == {"total": "合计", "calls": "次数"}
    assert "按结果统计的每日调用" in html
    refused = viewer.get(usage_url(application), {"days": "5"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert refused.status_code == 400
    assert "本页不提供时段“5”：请选择 7、30 或 90 天。" in refused.content.decode()


def test_the_usage_page_loads_the_vendored_chart_library_and_no_inline_script(viewer, application):
    record(application)
    html = viewer.get(usage_url(application)).content.decode()
    assert '<script src="/static/vendor/chartjs/chart.umd.min.js" defer></script>' in html
    assert '<script src="/static/gallery/js/usage.js" defer></script>' in html
    scripts = re.findall(r"<script([^>]*)>", html)
    assert all("src=" in attrs or 'type="application/json"' in attrs for attrs in scripts)
    assert "<canvas" in html and '<details class="chart-numbers" open' in html


def test_the_recent_calls_say_which_answer_was_retried_and_what_got_through_after(
    viewer, application, library, personas, commit, baidu, no_backoff_wait
):
    baidu.fail("same_hq", "add", 18, 18)
    upload_committed(library, personas, 1, commit)
    html = viewer.get(reverse("gallery:activity", args=[application.pk])).content.decode()
    assert html.count("waited on and sent again") == 2
    assert "after 2 QPS limits" in html
    zh = viewer.get(
        reverse("gallery:activity", args=[application.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans"
    ).content.decode()
    assert zh.count("已等待并重新发送") == 2 and "经 2 次 QPS 限流后" in zh
