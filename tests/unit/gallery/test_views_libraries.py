"""The library page: header counts, keyset paging, filters, sorting, bulk actions, files."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from gallery.labels import Labels
from gallery.models import Activity, Image, ImageStatus
from gallery.selectors import listing
from gallery.selectors.listing import PAGE_SIZE, Cursor
from gallery.services.images import images_delete
from gallery.services.task_base import ConsoleTask
from gallery.services.uploads import image_upload
from tests import fakebaidu
from tests.conftest import make_image
from tests.unit.gallery.kit import builtin, engine_add, login

pytestmark = pytest.mark.django_db


_serial = iter(range(10**9))


def rows(library, n, *, same_time=False, **fields):
    """n plain rows (no files), oldest first; ids and times increase together."""
    now = timezone.now()
    serials = [next(_serial) for _ in range(n)]
    made = Image.objects.bulk_create(
        Image(
            library=library,
            sha256=f"{serials[i]:064d}",
            width=100,
            height=100,
            bytes=1000,
            format="JPEG",
            brief=fields.get("brief", f"photo-{i:03d}.jpg"),
            status=fields.get("status", ImageStatus.INDEXED),
            cont_sign=f"{serials[i]},{library.pk}",
            tag1=fields.get("tag1"),
            tag2=fields.get("tag2"),
            class_id1=fields.get("class_id1"),
            class_id2=fields.get("class_id2"),
        )
        for i in range(n)
    )
    for i, image in enumerate(made):
        stamp = now if same_time else now - timedelta(seconds=n - i)
        Image.objects.filter(pk=image.pk).update(created_at=stamp)
    return list(Image.objects.filter(pk__in=[m.pk for m in made]).order_by("id"))


def briefs(response) -> list[str]:
    return re.findall(r'<span class="brief">([^<]*)</span>', response.content.decode())


@pytest.fixture
def viewer(client, personas):
    client.force_login(personas["viewer"])
    return client


@pytest.fixture
def editor(client, personas):
    client.force_login(personas["editor"])
    return client


def test_header_shows_count_capacity_and_counts_by_status(viewer, library):
    rows(library, 3)
    rows(library, 2, status=ImageStatus.FAILED)
    rows(library, 1, status=ImageStatus.DELETED)
    page = viewer.get(reverse("gallery:library", args=[library.pk])).content.decode()
    assert "5 of 500,000 images" in page
    assert "Indexed: 3" in page and "Failed: 2" in page
    assert '<meter min="0" max="500000" value="5"' in page


def test_newest_first_with_keyset_paging_both_ways(viewer, library):
    made = rows(library, PAGE_SIZE * 2 + 5, same_time=True)  # ties on created_at: id decides
    url = reverse("gallery:library", args=[library.pk])
    first = viewer.get(url)
    newest = [m.brief for m in reversed(made)]
    assert briefs(first) == newest[:PAGE_SIZE]
    page = first.context["page"]
    assert page.first and page.prev_cursor is None
    second = viewer.get(url, {"after": page.next_cursor})
    assert briefs(second) == newest[PAGE_SIZE : PAGE_SIZE * 2]
    third = viewer.get(url, {"after": second.context["page"].next_cursor})
    assert briefs(third) == newest[PAGE_SIZE * 2 :]
    assert third.context["page"].next_cursor is None
    back = viewer.get(url, {"before": third.context["page"].prev_cursor})
    assert briefs(back) == newest[PAGE_SIZE : PAGE_SIZE * 2]
    home = viewer.get(url, {"before": back.context["page"].prev_cursor})
    assert briefs(home) == newest[:PAGE_SIZE] and home.context["page"].first


def test_oldest_first(viewer, library):
    made = rows(library, 5)
    response = viewer.get(reverse("gallery:library", args=[library.pk]), {"sort": "old"})
    assert briefs(response) == [m.brief for m in made]


def test_paging_uses_no_offset(viewer, library, django_assert_max_num_queries):
    rows(library, 60)
    url = reverse("gallery:library", args=[library.pk])
    cursor = viewer.get(url).context["page"].next_cursor
    with CaptureQueriesContext(connection) as queries:
        viewer.get(url, {"after": cursor})
    listing = [
        q["sql"] for q in queries if 'FROM "gallery_image"' in q["sql"] and "LIMIT" in q["sql"]
    ]
    assert listing and all("OFFSET" not in sql for sql in listing)


def test_a_broken_cursor_shows_the_first_page(viewer, library):
    rows(library, 3)
    response = viewer.get(reverse("gallery:library", args=[library.pk]), {"after": "garbage!!"})
    assert response.status_code == 200 and len(briefs(response)) == 3
    assert Cursor.decode("bm90IGEgY3Vyc29y") is None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"tags": "7"}, {"a", "b", "c"}),
        ({"tags": "7,9", "tag_logic": "0"}, {"b"}),
        ({"tags": "7 9", "tag_logic": "1"}, {"a", "b", "c", "d"}),
        ({"tags": "9, 7", "tag_logic": "0"}, {"b"}),
        ({"q": "B"}, {"b"}),
        ({"status": "failed"}, {"d"}),
    ],
)
def test_filters_use_the_api_semantics(viewer, library, query, expected):
    rows(library, 1, brief="a", tag1=7)
    rows(library, 1, brief="b", tag1=9, tag2=7)
    rows(library, 1, brief="c", tag1=7, tag2=8)
    rows(library, 1, brief="d", tag1=9, status=ImageStatus.FAILED)
    rows(library, 1, brief="e")
    response = viewer.get(reverse("gallery:library", args=[library.pk]), query)
    assert set(briefs(response)) == expected


def test_product_filters_by_class_ids(viewer, product_library):
    rows(product_library, 1, brief="shoe", class_id1=3, class_id2=5)
    rows(product_library, 1, brief="hat", class_id1=3)
    rows(product_library, 1, brief="bag", class_id2=5)
    url = reverse("gallery:library", args=[product_library.pk])
    assert set(briefs(viewer.get(url, {"class_id1": "3"}))) == {"shoe", "hat"}
    assert set(briefs(viewer.get(url, {"class_id1": "3", "class_id2": "5"}))) == {"shoe"}
    page = viewer.get(url).content.decode()
    assert 'name="class_id1"' in page and 'name="tags"' not in page


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"tags": "1,2,3"}, "At most two tags."),
        ({"tags": "70000"}, "tags are whole numbers from 1 to 65535"),
        ({"tags": "abc"}, "tags are whole numbers from 1 to 65535"),
        ({"status": "weird"}, "Select a valid choice"),
    ],
)
def test_a_bad_filter_is_explained_and_left_out(viewer, library, query, message):
    rows(library, 2)
    response = viewer.get(reverse("gallery:library", args=[library.pk]), query)
    assert response.status_code == 200
    assert message in response.content.decode() and len(briefs(response)) == 2


def sql_writes(queries) -> list[str]:
    return [
        q["sql"]
        for q in queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]


def test_the_page_writes_nothing_and_leaves_api_images_to_a_task(client, personas, monkeypatch):
    _app, library = builtin(personas)
    engine_add(library, "123,456")  # stored by another client through the wire API
    queued = []
    monkeypatch.setattr(ConsoleTask, "dispatch", lambda task, *args: queued.append((task, args)))
    login(client, personas, "owner")
    before = (Image.objects.count(), Activity.objects.count())
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("gallery:library", args=[library.pk]))
    assert response.status_code == 200
    assert sql_writes(queries) == []
    assert (Image.objects.count(), Activity.objects.count()) == before
    assert [(task.name, args) for task, args in queued] == [
        ("gallery.tasks.library_mirror", (library.pk,))
    ]


def test_once_mirrored_the_page_queues_nothing_more(client, personas, monkeypatch):
    _app, library = builtin(personas)
    engine_add(library, "123,456")
    login(client, personas, "owner")
    client.get(reverse("gallery:library", args=[library.pk]))  # mirrors (eager worker)
    assert Image.objects.filter(library=library, cont_sign="123,456").exists()
    queued = []
    monkeypatch.setattr(ConsoleTask, "dispatch", lambda task, *args: queued.append((task, args)))
    assert client.get(reverse("gallery:library", args=[library.pk])).status_code == 200
    assert queued == []


def test_tombstones_and_rows_being_deleted_are_not_listed(viewer, library):
    rows(library, 1, brief="gone", status=ImageStatus.DELETED)
    rows(library, 1, brief="going", status=ImageStatus.DELETING)
    rows(library, 1, brief="here")
    assert briefs(viewer.get(reverse("gallery:library", args=[library.pk]))) == ["here"]
    # What is on its way out is found with the status filter.
    url = reverse("gallery:library", args=[library.pk]) + "?status=deleting"
    assert briefs(viewer.get(url)) == ["going"]


def test_a_bulk_delete_leaves_the_grid_and_the_count_at_once(client, personas, commit):
    _app, library = builtin(personas)
    login(client, personas, "owner")
    made = rows(library, 3)
    for i, row in enumerate(made):
        engine_add(library, f"{i},{i}")
        Image.objects.filter(pk=row.pk).update(cont_sign=f"{i},{i}")
    client.get(reverse("gallery:library", args=[library.pk]))  # nothing to mirror: all known
    ids = [made[0].pk, made[1].pk]
    # The delete tasks have not run yet (no commit): the rows are still being deleted.
    client.post(
        reverse("gallery:library-bulk", args=[library.pk]),
        {"action": "delete", "ids": ids, "confirmed": "1"},
    )
    assert set(Image.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"deleting"}
    page = client.get(reverse("gallery:library", args=[library.pk]))
    assert briefs(page) == [made[2].brief]
    assert page.context["count"] == 1


def test_an_outsider_gets_404(client, personas, library):
    client.force_login(personas["outsider"])
    assert client.get(reverse("gallery:library", args=[library.pk])).status_code == 404
    assert client.post(reverse("gallery:library-bulk", args=[library.pk])).status_code == 404


def test_a_viewer_sees_no_bulk_actions_and_may_not_use_them(viewer, library):
    made = rows(library, 2)
    page = viewer.get(reverse("gallery:library", args=[library.pk])).content.decode()
    assert 'name="ids"' not in page and "Upload" not in page.split('class="tabs"')[1][:400]
    response = viewer.post(
        reverse("gallery:library-bulk", args=[library.pk]),
        {"action": "delete", "ids": [made[0].pk], "confirmed": "1"},
    )
    assert response.status_code == 403
    assert Image.objects.filter(status=ImageStatus.INDEXED).count() == 2


@pytest.fixture
def upload(personas, commit):
    def make(library, seed, **kwargs):
        with commit():
            image = image_upload(
                actor=personas["editor"],
                library=library,
                data=make_image(seed),
                filename=f"p{seed}.jpg",
                **kwargs,
            )
        image.refresh_from_db()
        return image

    return make


def test_bulk_delete_asks_first_then_deletes(editor, library, upload, commit, baidu):
    kept, *doomed = [upload(library, seed) for seed in (1, 2, 3)]
    url = reverse("gallery:library-bulk", args=[library.pk])
    ids = [image.pk for image in doomed]
    confirm = editor.post(url, {"action": "delete", "ids": ids})
    assert confirm.status_code == 200 and "Delete 2 images?" in confirm.content.decode()
    assert Image.objects.filter(status=ImageStatus.INDEXED).count() == 3
    with commit():
        done = editor.post(url, {"action": "delete", "ids": ids, "confirmed": "1"})
    assert done.status_code == 302
    assert set(
        Image.objects.filter(status=ImageStatus.DELETED).values_list("pk", flat=True)
    ) == set(ids)
    assert briefs(editor.get(reverse("gallery:library", args=[library.pk]))) == [kept.brief]


def test_bulk_actions_ignore_images_of_other_libraries(editor, library, product_library):
    other = rows(product_library, 1)[0]
    response = editor.post(
        reverse("gallery:library-bulk", args=[library.pk]),
        {"action": "delete", "ids": [other.pk], "confirmed": "1"},
        follow=True,
    )
    assert "None of the selected images" in response.content.decode()
    other.refresh_from_db()
    assert other.status == ImageStatus.INDEXED


def test_bulk_needs_a_selection(editor, library):
    response = editor.post(
        reverse("gallery:library-bulk", args=[library.pk]), {"action": "delete"}, follow=True
    )
    assert "Select at least one image." in response.content.decode()


def test_bulk_retag_updates_each_image(editor, library, upload, commit, baidu):
    images = [upload(library, seed, labels=Labels((1,))) for seed in (1, 2)]
    with commit():
        response = editor.post(
            reverse("gallery:library-bulk", args=[library.pk]),
            {"action": "retag", "ids": [i.pk for i in images], "tags": "5, 6"},
            follow=True,
        )
    assert "2 images re-tagged." in response.content.decode()
    for image in images:
        image.refresh_from_db()
        assert image.tags == [5, 6] and not image.pending_update
    assert [c[2]["tags"] for c in baidu.calls if c[1] == "update"] == ["5,6", "5,6"]


@pytest.mark.parametrize(
    ("tags", "message"),
    [("", "Enter the tags"), ("0", "1 to 65535"), ("1,2,3", "At most two tags.")],
)
def test_bulk_retag_with_bad_tags_changes_nothing(editor, library, tags, message):
    made = rows(library, 1, tag1=4)
    response = editor.post(
        reverse("gallery:library-bulk", args=[library.pk]),
        {"action": "retag", "ids": [made[0].pk], "tags": tags},
        follow=True,
    )
    assert message in response.content.decode()
    made[0].refresh_from_db()
    assert made[0].tags == [4] and made[0].pending_update is None


def test_files_are_served_to_members_only(client, personas, library, upload, baidu):
    image = upload(library, 1)
    thumb = reverse("gallery:image-thumbnail", args=[image.pk])
    original = reverse("gallery:image-original", args=[image.pk])
    client.force_login(personas["viewer"])
    response = client.get(original)
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert b"".join(response.streaming_content) == make_image(1)
    assert client.get(thumb)["Content-Type"] == "image/jpeg"
    client.force_login(personas["outsider"])
    assert client.get(thumb).status_code == 404 and client.get(original).status_code == 404


def test_files_of_a_deleted_image_are_gone(client, personas, library, upload, commit, baidu):
    image = upload(library, 1)
    with commit():
        images_delete(actor=personas["editor"], images=[image])
    client.force_login(personas["viewer"])
    assert client.get(reverse("gallery:image-original", args=[image.pk])).status_code == 404


def test_s3_files_redirect_to_a_presigned_url(
    client, personas, library, upload, baidu, settings, monkeypatch
):
    image = upload(library, 1)
    settings.STORAGE_BACKEND = "s3"
    monkeypatch.setattr(
        type(default_storage._wrapped if hasattr(default_storage, "_wrapped") else default_storage),
        "url",
        lambda self, name, expire=None: f"https://s3.example/{name}?X-Amz-Expires={expire}",
        raising=False,
    )
    client.force_login(personas["viewer"])
    response = client.get(reverse("gallery:image-original", args=[image.pk]))
    assert response.status_code == 302 and "X-Amz-Expires=300" in response["Location"]


def test_the_status_endpoint_reports_rows_of_this_library_only(viewer, library, product_library):
    mine = rows(library, 1, status=ImageStatus.FAILED)[0]
    Image.objects.filter(pk=mine.pk).update(
        error_code="216203", error_msg="input image cannot handle"
    )
    other = rows(product_library, 1)[0]
    response = viewer.get(
        reverse("gallery:library-status", args=[library.pk]), {"ids": f"{mine.pk},{other.pk},x"}
    )
    data = response.json()["images"]
    assert list(data) == [str(mine.pk)]
    row = data[str(mine.pk)]
    assert row["status"] == "failed" and row["done"] is True
    assert (
        row["error"]["code"] == "216203"
        and "too little usable content" in row["error"]["explanation"]
    )


@pytest.mark.parametrize("probe", [3, 10_000])
def test_a_brief_search_finds_old_rows_past_the_probe_window(viewer, library, monkeypatch, probe):
    monkeypatch.setattr(listing, "PROBE_ROWS", probe)
    rows(library, 2, brief="old-panda")
    rows(library, 8)
    rows(library, 1, brief="new-PANDA")
    url = reverse("gallery:library", args=[library.pk])
    assert briefs(viewer.get(url, {"q": "panda"})) == ["new-PANDA", "old-panda", "old-panda"]
    assert briefs(viewer.get(url, {"q": "panda", "sort": "old"})) == [
        "old-panda",
        "old-panda",
        "new-PANDA",
    ]


def test_a_brief_search_pages_by_keyset(viewer, library, monkeypatch):
    monkeypatch.setattr(listing, "PAGE_SIZE", 2)
    monkeypatch.setattr(listing, "PROBE_ROWS", 4)
    made = rows(library, 9, brief="x")
    rows(library, 3)  # newest rows that do not match
    page = listing.library_page(library=library, filters=listing.ListingFilter(q="x"), size=2)
    seen = [image.pk for image in page.images]
    while page.next_cursor:
        page = listing.library_page(
            library=library, filters=listing.ListingFilter(q="x"), after=page.next_cursor, size=2
        )
        seen += [image.pk for image in page.images]
    assert seen == [m.pk for m in reversed(made)]


@pytest.mark.parametrize(
    ("q", "expected"), [("50%", {"50% off"}), ("a_b", {"a_b"}), ("\\", {"c\\d"})]
)
def test_like_wildcards_in_a_brief_search_are_literal(viewer, library, q, expected):
    for brief in ("50% off", "500 off", "a_b", "axb", "c\\d"):
        rows(library, 1, brief=brief)
    response = viewer.get(reverse("gallery:library", args=[library.pk]), {"q": q})
    assert set(briefs(response)) == expected


def test_pages_speak_simplified_chinese(viewer, library):
    rows(library, 1, status=ImageStatus.FAILED)
    page = viewer.get(
        reverse("gallery:library", args=[library.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans"
    ).content.decode()
    assert '<html lang="zh-hans">' in page
    assert "相同图检索" in page and "张图片" in page and "失败: 1" in page
    status = viewer.get(
        reverse("gallery:library-status", args=[library.pk]),
        {"ids": Image.objects.get().pk},
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    ).json()
    assert next(iter(status["images"].values()))["status_label"] == "失败"


def test_every_asset_is_served_locally(viewer, library, application):
    urls = [
        reverse("gallery:home"),
        reverse("gallery:application", args=[application.pk]),
        reverse("gallery:library", args=[library.pk]),
        reverse("gallery:search", args=[library.pk]),
        reverse("gallery:usage", args=[application.pk]),
        reverse("gallery:activity", args=[application.pk]),
    ]
    for url in urls:
        page = viewer.get(url).content.decode()
        assert not re.search(r'(src|href)="(https?:)?//', page), url
        assert "onclick=" not in page and "onsubmit=" not in page and "onchange=" not in page


def test_the_failed_ones_of_a_selection_are_pushed_again_in_bulk(
    editor, library, upload, commit, baidu, monkeypatch
):
    monkeypatch.setitem(fakebaidu.ERRORS, 216203, "input image cannot handle")
    baidu.fail("same_hq", "add", 216203, 216203)  # refused once each
    failed = [upload(library, seed) for seed in (1, 2)]
    fine = upload(library, 3)
    assert [r.status for r in failed] == ["failed", "failed"] and fine.status == "indexed"
    url = reverse("gallery:library-bulk", args=[library.pk])
    with commit():
        response = editor.post(
            url, {"action": "repush", "ids": [r.pk for r in [*failed, fine]]}, follow=True
        )
    assert "2 images queued to be pushed again." in response.content.decode()
    assert set(Image.objects.values_list("status", flat=True)) == {"indexed"}
    assert Activity.objects.filter(verb="image.repush").count() == 2
    again = editor.post(url, {"action": "repush", "ids": [fine.pk]}, follow=True)
    assert "None of the selected images has failed." in again.content.decode()


def test_a_filtered_listing_says_how_many_images_match(viewer, library, monkeypatch):
    rows(library, 3, tag1=7)
    rows(library, 1, tag1=9, brief="lonely.jpg")
    url = reverse("gallery:library", args=[library.pk])
    assert "data-matches" not in viewer.get(url).content.decode()  # no filter, no count
    assert "3 images match." in viewer.get(url + "?tags=7").content.decode()
    assert "1 image matches." in viewer.get(url + "?q=lonely").content.decode()
    monkeypatch.setattr(listing, "COUNT_CAP", 2)
    assert "More than 2 images match." in viewer.get(url + "?tags=7").content.decode()


def test_sorted_by_brief_the_grid_pages_by_brief_both_ways(viewer, library):
    names = [f"{chr(ord('a') + i % 26)}|{i:03d}.jpg" for i in range(PAGE_SIZE + 10)]
    for name in names:
        rows(library, 1, brief=name)
    rows(library, 2, brief="a|000.jpg")  # ties on the brief go by id
    url = reverse("gallery:library", args=[library.pk])
    expected = sorted([*names, "a|000.jpg", "a|000.jpg"])
    first = viewer.get(url, {"sort": "brief"})
    assert briefs(first) == expected[:PAGE_SIZE]
    second = viewer.get(url, {"sort": "brief", "after": first.context["page"].next_cursor})
    assert briefs(second) == expected[PAGE_SIZE:]
    back = viewer.get(url, {"sort": "brief", "before": second.context["page"].prev_cursor})
    assert briefs(back) == expected[:PAGE_SIZE] and back.context["page"].first
    # A brief substring keeps the order.
    found = viewer.get(url, {"sort": "brief", "q": "|00"})
    assert briefs(found) == [b for b in expected if "|00" in b]
    # A cursor of another order starts the page afresh.
    other = viewer.get(url, {"sort": "new"}).context["page"].next_cursor
    assert briefs(viewer.get(url, {"sort": "brief", "after": other})) == expected[:PAGE_SIZE]


# --- every image matching the filters, across pages ------------------------------------------


def test_select_all_matching_is_offered_with_the_count_once_there_are_more_pages(
    editor, library, monkeypatch
):
    rows(library, PAGE_SIZE + 2, tag1=7)
    rows(library, 3, tag1=9)
    url = reverse("gallery:library", args=[library.pk])
    page = editor.get(url + "?tags=7").content.decode()
    assert "Select all 50 matching" in page
    assert 'name="match-tags" value="7"' in page  # the filters go with the bulk form
    assert "data-matching-offer" not in editor.get(url + "?tags=9").content.decode()  # one page
    monkeypatch.setattr(listing, "COUNT_CAP", 10)
    assert "Select all matching (over 10)" in editor.get(url + "?tags=7").content.decode()


def test_an_action_on_all_matching_covers_every_page_and_nothing_else(editor, library):
    matching = rows(library, PAGE_SIZE + 2, tag1=7, status=ImageStatus.FAILED)
    others = rows(library, 3, tag1=9, status=ImageStatus.FAILED)
    response = editor.post(
        reverse("gallery:library-bulk", args=[library.pk]),
        # The ids of the page are not what it acts on: the filters are read again.
        {
            "action": "retag",
            "scope": "matching",
            "match-tags": "7",
            "tags": "5",
            "ids": [others[0].pk],
        },
        follow=True,
    )
    assert f"{len(matching)} images re-tagged." in response.content.decode()
    assert set(Image.objects.filter(tag1=5).values_list("pk", flat=True)) == {
        r.pk for r in matching
    }
    assert list(Image.objects.filter(tag1=9).values_list("pk", flat=True)) == [r.pk for r in others]


def test_all_matching_is_read_at_action_time_not_from_the_page(editor, library):
    rows(library, 2, tag1=7, status=ImageStatus.FAILED)
    stopped = rows(library, 1, tag1=7, status=ImageStatus.FAILED)[0]
    Image.objects.filter(pk=stopped.pk).update(tag1=8)  # no longer matches
    late = rows(library, 1, tag1=7, status=ImageStatus.FAILED)[0]  # came to match since
    editor.post(
        reverse("gallery:library-bulk", args=[library.pk]),
        {"action": "retag", "scope": "matching", "match-tags": "7", "tags": "5"},
    )
    late.refresh_from_db()
    stopped.refresh_from_db()
    assert late.tags == [5] and stopped.tags == [8]
    assert Image.objects.filter(tag1=5).count() == 3


def test_deleting_all_matching_asks_first_with_the_exact_count(editor, library, monkeypatch):
    monkeypatch.setattr(listing, "COUNT_CAP", 10)  # the listing's count stops; this one does not
    doomed = rows(library, PAGE_SIZE + 2, tag1=7)
    kept = rows(library, 2, tag1=9)
    url = reverse("gallery:library-bulk", args=[library.pk])
    form = {"action": "delete", "scope": "matching", "match-tags": "7"}
    confirm = editor.post(url, form)
    page = confirm.content.decode()
    assert confirm.status_code == 200 and f"Delete {len(doomed)} images?" in page
    assert 'name="scope" value="matching"' in page and 'name="match-tags" value="7"' in page
    assert f'name="expected" value="{len(doomed)}"' in page
    assert 'name="ids"' not in page  # the confirmation, too, names the filters, not ids
    assert Image.objects.filter(status=ImageStatus.INDEXED).count() == len(doomed) + 2
    # One more came to match since: the count shown is no longer true, so it is shown again.
    rows(library, 1, tag1=7)
    again = editor.post(url, {**form, "confirmed": "1", "expected": str(len(doomed))})
    assert (
        again.status_code == 200 and f"Delete {len(doomed) + 1} images?" in again.content.decode()
    )
    assert "changed since" in again.content.decode()
    done = editor.post(url, {**form, "confirmed": "1", "expected": str(len(doomed) + 1)})
    assert done.status_code == 302
    assert Image.objects.live().filter(tag1=7).count() == 0
    assert set(Image.objects.live().values_list("pk", flat=True)) == {r.pk for r in kept}
    assert Activity.objects.filter(verb="image.delete").count() == len(doomed) + 1


def test_a_large_set_of_matching_images_is_done_by_tasks_in_chunks(
    editor, library, commit, monkeypatch
):
    from gallery.services import images as image_services

    monkeypatch.setattr(image_services, "BULK_NOW", 5)
    monkeypatch.setattr(image_services, "BULK_CHUNK", 4)
    chunks: list[int] = []
    real = image_services.images_bulk_run

    def counted(**kw):
        chunks.append(len(kw["image_ids"]))
        real(**kw)

    monkeypatch.setattr(image_services, "images_bulk_run", counted)
    matching = rows(library, 11, tag1=7, status=ImageStatus.FAILED)
    rows(library, 2, tag1=9, status=ImageStatus.FAILED)
    with commit():
        response = editor.post(
            reverse("gallery:library-bulk", args=[library.pk]),
            {"action": "retag", "scope": "matching", "match-tags": "7", "tags": "5"},
            follow=True,
        )
    assert "11 images are being done in the background" in response.content.decode()
    assert chunks == [4, 4, 3]
    assert Image.objects.filter(tag1=5).count() == len(matching)
    assert Image.objects.filter(tag1=9).count() == 2


def test_a_bad_filter_never_widens_all_matching(editor, library):
    rows(library, 3, tag1=7)
    response = editor.post(
        reverse("gallery:library-bulk", args=[library.pk]),
        {"action": "delete", "scope": "matching", "match-tags": "x", "confirmed": "1"},
        follow=True,
    )
    assert "apply them again" in response.content.decode()
    assert Image.objects.live().count() == 3


# --- clearing labels ------------------------------------------------------------------------


def test_clearing_tags_asks_first_then_adds_each_image_again_without_them(
    editor, library, upload, commit, baidu
):
    tagged = [upload(library, seed, labels=Labels((1, 2))) for seed in (1, 2)]
    plain = upload(library, 3)
    url = reverse("gallery:library-bulk", args=[library.pk])
    ids = [i.pk for i in [*tagged, plain]]
    confirm = editor.post(url, {"action": "untag", "ids": ids})
    assert "Clear the labels of 3 images?" in confirm.content.decode()
    assert all(e.tags == "1,2" for e in baidu.libraries["same_hq"].values() if e.tags)
    baidu.calls.clear()
    with commit():
        response = editor.post(url, {"action": "untag", "ids": ids, "confirmed": "1"}, follow=True)
    assert "The labels of 2 images are cleared." in response.content.decode()
    # The wire cannot remove a tag by update: each tagged image was deleted and added again.
    assert [c[1] for c in baidu.calls] == ["delete", "add", "delete", "add"]
    assert all("tags" not in c[2] for c in baidu.calls if c[1] == "add")
    assert [e.tags for e in baidu.libraries["same_hq"].values()] == ["", "", ""]
    for image in tagged:
        image.refresh_from_db()
        assert image.tags == [] and not image.pending_update
        assert image.status == ImageStatus.INDEXED and image.cont_sign in baidu.libraries["same_hq"]
    edits = Activity.objects.filter(verb="image.edit")
    assert {a.object_id for a in edits} == {i.pk for i in tagged} and len(edits) == 2
    assert all(a.detail["labels"]["tags"] == [] for a in edits)


def test_clearing_tags_of_rows_not_sent_changes_them_at_once(editor, library, baidu):
    made = rows(library, 2, tag1=4, status=ImageStatus.FAILED)
    editor.post(
        reverse("gallery:library-bulk", args=[library.pk]),
        {"action": "untag", "ids": [r.pk for r in made], "confirmed": "1"},
    )
    assert [r.tags for r in Image.objects.filter(pk__in=[r.pk for r in made])] == [[], []]
    assert baidu.calls == []


def test_clearing_class_ids_of_all_matching_product_images(editor, product_library, baidu):
    made = rows(product_library, 3, class_id1=4, class_id2=5, status=ImageStatus.PENDING)
    other = rows(product_library, 1, class_id1=6, status=ImageStatus.PENDING)[0]
    url = reverse("gallery:library-bulk", args=[product_library.pk])
    form = {"action": "untag", "scope": "matching", "match-class_id1": "4"}
    assert "Clear the labels of 3 images?" in editor.post(url, form).content.decode()
    editor.post(url, {**form, "confirmed": "1", "expected": "3"})
    for row in made:
        row.refresh_from_db()
        assert (row.class_id1, row.class_id2) == (None, None)
    other.refresh_from_db()
    assert other.class_id1 == 6


def test_clearing_tags_on_the_built_in_engine_leaves_its_entries_without_labels(
    client, personas, commit, baidu_engine
):
    from engine.models import EngineEntry

    _app, library = builtin(personas)
    with commit():
        made = [
            image_upload(
                actor=personas["owner"],
                library=library,
                data=make_image(seed),
                filename=f"{seed}.jpg",
                labels=Labels((3, 4)),
            )
            for seed in (1, 2)
        ]
    assert list(EngineEntry.objects.values_list("tag1", "tag2")) == [(3, 4), (3, 4)]
    login(client, personas, "owner")
    with commit():
        client.post(
            reverse("gallery:library-bulk", args=[library.pk]),
            {"action": "untag", "ids": [m.pk for m in made], "confirmed": "1"},
        )
    assert list(EngineEntry.objects.values_list("tag1", "tag2")) == [(None, None)] * 2
    rows_now = list(Image.objects.filter(pk__in=[m.pk for m in made]))
    assert {r.status for r in rows_now} == {"indexed"} and all(r.tags == [] for r in rows_now)
    assert set(EngineEntry.objects.values_list("cont_sign", flat=True)) == {
        r.cont_sign for r in rows_now
    }
    # The library's mirror takes the delete and the add for what they were: nothing changed.
    with commit():
        client.get(reverse("gallery:library", args=[library.pk]))
    assert Image.objects.live().count() == 2
    assert set(Image.objects.live().values_list("status", flat=True)) == {"indexed"}
