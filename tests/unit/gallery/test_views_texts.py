"""Stored messages in the viewer's language: a batch's problems are kept as msgids and
parameters and rendered per viewer; rows stored before, with text only, read as written."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse
from django.utils import translation

from gallery.explain import NOT_SENT_FULL
from gallery.models import ApiCall, Application, Batch, Image, ImageStatus
from gallery.services.batches import batch_stop_full
from gallery.services.uploads import batch_add_files, batch_create
from gallery.texts import Text, render_stored
from tests.conftest import make_image

pytestmark = pytest.mark.django_db

TOO_SMALL_EN = "The image is 40×40 px; this service needs the shortest side ≥ 50 px."
TOO_SMALL_ZH = "图片为 40×40 像素；此服务要求最短边 ≥ 50 像素。"


def batch_with_problems(library, personas, language):
    """A batch whose files were refused while `language` was active (its author's)."""
    with translation.override(language):
        batch = batch_create(actor=personas["editor"], library=library)
        batch_add_files(
            batch=batch,
            files=[(b"", "empty.jpg"), (make_image(1, size=(40, 40)), "tiny.jpg")],
        )
    return Batch.objects.get(pk=batch.pk)


def page(client, personas, batch, language):
    client.force_login(personas["viewer"])
    return client.get(
        reverse("gallery:batch", args=[batch.pk]), HTTP_ACCEPT_LANGUAGE=language
    ).content.decode()


def test_a_batch_made_in_english_reads_in_chinese_to_a_chinese_viewer(client, personas, library):
    batch = batch_with_problems(library, personas, "en")
    assert batch.problems[1]["message"] == TOO_SMALL_EN  # stored as its author read it
    html = page(client, personas, batch, "zh-hans")
    assert TOO_SMALL_ZH in html and "文件为空。" in html
    assert TOO_SMALL_EN not in html


def test_a_batch_made_in_chinese_reads_in_english_to_an_english_viewer(client, personas, library):
    batch = batch_with_problems(library, personas, "zh-hans")
    assert batch.problems[1]["message"] == TOO_SMALL_ZH
    html = page(client, personas, batch, "en")
    assert TOO_SMALL_EN in html and "The file is empty." in html
    assert TOO_SMALL_ZH not in html


def test_a_problem_stored_before_codes_reads_as_it_was_written(client, personas, library):
    batch = batch_create(actor=personas["editor"], library=library)
    Batch.objects.filter(pk=batch.pk).update(
        problems=[{"name": "old.jpg", "code": 216201, "message": "written long ago"}]
    )
    html = page(client, personas, batch, "zh-hans")
    assert "written long ago" in html


def test_a_full_batch_says_so_in_the_viewers_language(client, personas, library):
    batch = batch_create(actor=personas["editor"], library=library)
    with translation.override("en"):
        batch_stop_full(batch.pk)
    html = page(client, personas, Batch.objects.get(pk=batch.pk), "zh-hans")
    assert "图库已满：其余图片未发送。" in html and "The library is full" not in html


def test_a_text_keeps_its_msgid_and_renders_again_in_another_language():
    with translation.override("en"):
        text = Text("The file is empty.")
        stored = text.as_json()
        assert str(text) == "The file is empty."
    with translation.override("zh-hans"):
        assert render_stored(str(text), stored) == "文件为空。"
        # A broken record falls back to its text.
        assert render_stored("as written", {"id": "%(n)d x", "params": {"m": 1}}) == "as written"
        assert render_stored("as written", None) == "as written"


def local_rows(library, n):
    """Rows the backend never saw: a delete removes them at once, without a call."""
    return [
        Image.objects.create(
            library=library,
            sha256=f"{library.pk}{i}".ljust(64, "0"),
            width=100,
            height=100,
            bytes=1000,
            format="JPEG",
            brief=f"r{i}.jpg",
            status=ImageStatus.FAILED,
        )
        for i in range(n)
    ]


@pytest.mark.parametrize(
    ("n", "language", "expected"),
    [
        (1, "en", "1 image deleted."),
        (2, "en", "2 images deleted."),
        (1, "zh-hans", "已删除 1 张图片。"),
        (2, "zh-hans", "已删除 2 张图片。"),
    ],
)
def test_counts_have_real_plural_forms(client, personas, library, n, language, expected):
    client.force_login(personas["editor"])
    ids = [row.pk for row in local_rows(library, n)]
    response = client.post(
        reverse("gallery:library-bulk", args=[library.pk]),
        {"action": "delete", "ids": ids, "confirmed": "1"},
        follow=True,
        HTTP_ACCEPT_LANGUAGE=language,
    )
    html = response.content.decode()
    assert expected in html and "(s)" not in html


@pytest.mark.parametrize(
    ("language", "tier", "service"),
    [("en", "Paid tier", "Same image"), ("zh-hans", "付费档", "相同图检索")],
)
def test_tier_names_and_chart_legends_are_translated(
    client, personas, application, language, tier, service
):
    Application.objects.filter(pk=application.pk).update(qps=10)
    ApiCall.objects.create(
        application=application, service="same_hq", operation="add", latency_ms=5
    )
    client.force_login(personas["viewer"])
    detail = client.get(
        reverse("gallery:application", args=[application.pk]), HTTP_ACCEPT_LANGUAGE=language
    ).content.decode()
    assert f"10 ({tier})" in detail and "(paid)" not in detail
    usage = client.get(
        reverse("gallery:usage", args=[application.pk]), HTTP_ACCEPT_LANGUAGE=language
    ).content.decode()
    found = re.search(r'<script id="usage-data" type="application/json">(.*?)</script>', usage)
    assert found is not None
    legend = json.dumps(json.loads(found.group(1)), ensure_ascii=False)
    assert service in legend and "same_hq" not in legend


def test_scripts_get_both_forms_of_a_counted_text(client, personas, library):
    client.force_login(personas["editor"])
    html = client.get(reverse("gallery:upload", args=[library.pk])).content.decode()
    assert '"queued": "%s file ready; press Upload."' in html
    assert '"queued_plural": "%s files ready; press Upload."' in html
    assert "(s)" not in html


@pytest.mark.parametrize(("language", "label"), [("en", "Failed: 2"), ("zh-hans", "失败: 2")])
def test_a_batchs_status_badges_are_translated(client, personas, library, language, label):
    batch = batch_create(actor=personas["editor"], library=library)
    Image.objects.filter(pk__in=[r.pk for r in local_rows(library, 2)]).update(batch=batch)
    html = page(client, personas, batch, language)
    assert f'<span class="badge status-failed">{label}</span>' in html
    assert ">failed: 2<" not in html


@pytest.mark.parametrize(
    ("language", "words"),
    [("en", "not sent: the library is full"), ("zh-hans", "未发送：图库已满")],
)
def test_tukus_own_stored_errors_read_in_the_viewers_language(
    client, personas, library, language, words
):
    (row,) = local_rows(library, 1)
    Image.objects.filter(pk=row.pk).update(error_code="19", error_msg=NOT_SENT_FULL)
    client.force_login(personas["viewer"])
    html = client.get(
        reverse("gallery:image", args=[row.pk]), HTTP_ACCEPT_LANGUAGE=language
    ).content.decode()
    assert words in html
