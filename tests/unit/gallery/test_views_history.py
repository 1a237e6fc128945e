"""The activity log and an image's history in words: before → after, every verb labelled,
rows that appear or vanish through the API, edits that failed later."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils import translation

from gallery.labels import Labels
from gallery.models import Activity, ActivityVerb, Image, ImageStatus, Role
from gallery.narrate import narrate
from gallery.services.activity import activity_record
from gallery.services.images import image_update
from gallery.services.libraries import library_set_capacity, library_set_match_threshold
from gallery.services.members import membership_set
from gallery.services.mirror import library_mirror_run
from gallery.services.sync import images_add_run
from gallery.services.uploads import image_upload
from tests.conftest import make_image
from tests.unit.gallery.kit import builtin, engine_add, engine_delete, login

pytestmark = pytest.mark.django_db


@pytest.fixture
def image(library, personas, commit, baidu):
    with commit():
        made = image_upload(
            actor=personas["editor"],
            library=library,
            data=make_image(1),
            filename="harbour.jpg",
            labels=Labels((7,)),
        )
    made.refresh_from_db()
    return made


@pytest.fixture
def editor(client, personas):
    client.force_login(personas["editor"])
    return client


def text(html: str) -> str:
    """The page's words, tags and runs of spaces out."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_an_edit_shows_its_fields_before_and_after_on_both_pages(
    editor, image, commit, application
):
    with commit():
        editor.post(
            reverse("gallery:image-edit", args=[image.pk]),
            {"brief": "Harbour at dusk", "tags": "7, 8"},
        )
    for url in (
        reverse("gallery:image", args=[image.pk]),
        reverse("gallery:activity", args=[application.pk]),
    ):
        html = editor.get(url).content.decode()
        assert "<del>“harbour.jpg”</del>" in html and "<ins>“Harbour at dusk”</ins>" in html
        assert "<del>7</del>" in html and "<ins>7, 8</ins>" in html
        assert '<code class="detail">' not in html  # no raw JSON
        words = text(html)
        assert "Brief: “harbour.jpg” → “Harbour at dusk”" in words
        assert "Tags: 7 → 7, 8" in words


def test_an_edit_that_changes_only_the_brief_lists_only_the_brief(editor, image, commit):
    with commit():
        editor.post(reverse("gallery:image-edit", args=[image.pk]), {"brief": "New", "tags": "7"})
    entry = narrate(Activity.objects.get(verb="image.edit"))
    assert [(f.name, f.before, f.after) for f in entry.fields] == [
        ("brief", "“harbour.jpg”", "“New”")
    ]
    assert entry.outcome == "done"


def test_an_edit_waiting_for_the_backend_says_so(editor, image):
    editor.post(reverse("gallery:image-edit", args=[image.pk]), {"brief": "New", "tags": "7"})
    html = editor.get(reverse("gallery:image", args=[image.pk])).content.decode()
    history = html.split('id="history-title"')[1]
    assert "Waiting for the backend" in history


def test_an_edit_the_backend_refused_later_is_shown_failed(editor, image, commit, baidu):
    baidu.fail("same_hq", "update", 216100)
    with commit():
        editor.post(reverse("gallery:image-edit", args=[image.pk]), {"brief": "New", "tags": "7"})
    edit = Activity.objects.get(verb="image.edit")
    assert edit.detail["outcome"] == "failed" and edit.detail["error_code"] == "216100"
    assert Activity.objects.filter(verb="image.edit_refused", object_id=image.pk).exists()
    html = editor.get(reverse("gallery:image", args=[image.pk])).content.decode()
    history = text(html.split('id="history-title"')[1])
    assert "edited" in history and "Failed 216100" in history
    assert "saw the backend refuse an edit" in history


def test_an_edit_of_an_image_gone_at_the_backend_is_shown_failed(
    editor, image, commit, baidu, application
):
    baidu.fail("same_hq", "update", 216680)
    with commit():
        editor.post(reverse("gallery:image-edit", args=[image.pk]), {"brief": "New", "tags": "7"})
    edit = Activity.objects.get(verb="image.edit")
    assert edit.detail["outcome"] == "failed" and edit.detail["error_code"] == "216680"
    html = editor.get(reverse("gallery:activity", args=[application.pk])).content.decode()
    words = text(html)
    assert "Failed 216680 item not exist" in words
    assert "found the image gone from the backend" in words


def test_an_edit_lost_with_a_failed_add_is_shown_failed(library, personas, commit, baidu):
    baidu.fail("same_hq", "add", 216201)
    row = image_upload(
        actor=personas["editor"], library=library, data=make_image(3), filename="3.jpg"
    )
    # The edit comes while the add is out: it waits, then fails with the add.
    Image.objects.filter(pk=row.pk).update(status=ImageStatus.INDEXING)
    row.refresh_from_db()
    image_update(actor=personas["editor"], image=row, brief="later")
    assert Activity.objects.get(verb="image.edit").detail["outcome"] == "waiting"
    images_add_run(image_ids=[row.pk])
    edit = Activity.objects.get(verb="image.edit")
    assert edit.detail["outcome"] == "failed" and edit.detail["error_code"] == "216201"


def test_every_verb_has_a_label_in_english_and_in_chinese(application, personas):
    for verb in ActivityVerb:
        english = str(verb.label)
        assert english and english != verb.value, verb
        with translation.override("zh-hans"):
            chinese = str(verb.label)
        assert chinese and chinese != english, verb
        activity = Activity(verb=verb.value, detail={})
        assert narrate(activity).label == english


def test_the_activity_page_names_every_verb_in_chinese(client, personas, application):
    owner = personas["owner"]
    for verb in ActivityVerb:
        activity_record(actor=owner, application=application, verb=verb, obj=application)
    client.force_login(owner)
    html = client.get(
        reverse("gallery:activity", args=[application.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans"
    ).content.decode()
    with translation.override("zh-hans"):
        for verb in ActivityVerb:
            assert f'<span title="{verb.value}">{verb.label}</span>' in html, verb


def test_capacity_threshold_and_role_changes_read_before_and_after(
    client, personas, application, library
):
    owner = personas["owner"]
    library_set_capacity(actor=owner, library=library, capacity=1_000_000)
    library_set_match_threshold(actor=owner, library=library, threshold=0.85)
    membership_set(actor=owner, application=application, user=personas["viewer"], role=Role.EDITOR)
    client.force_login(owner)
    words = text(client.get(reverse("gallery:activity", args=[application.pk])).content.decode())
    assert "Capacity: 500,000 → 1,000,000" in words
    assert "Threshold: 0.90 → 0.85" in words
    assert "Role: Viewer → Editor" in words and "User: viewer" in words
    chinese = text(
        client.get(
            reverse("gallery:activity", args=[application.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans"
        ).content.decode()
    )
    # Numbers by the viewer's locale: Django's Chinese format has no thousands separator.
    assert "500000 → 1000000" in chinese and "0.90 → 0.85" in chinese
    assert "查看者 → 编辑者" in chinese


@translation.override("en")
def test_old_entries_and_unknown_keys_stay_readable(application, personas):
    old = Activity(verb="image.edit", detail={"brief": "x", "labels": {"tags": [3]}})
    assert [(f.label, f.after, f.before) for f in narrate(old).fields] == [
        ("Brief", "“x”", None),
        ("Tags", "3", None),
    ]
    odd = Activity(verb="test.verb", detail={"n": 1234})
    entry = narrate(odd)
    assert entry.label == "test.verb" and [(f.label, f.after) for f in entry.fields] == [
        ("n", "1,234")
    ]


def test_an_image_added_through_the_api_is_logged_with_its_brief(client, personas):
    app, library = builtin(personas)
    engine_add(library, "123,456", brief="from sdk", tags=(3,))
    assert library_mirror_run(library_id=library.pk) == {"added": 1, "removed": 0}
    row = Image.objects.get(library=library)
    entry = Activity.objects.get(verb="image.api_add")
    assert entry.object_id == row.pk and entry.actor is None
    login(client, personas, "owner")
    words = text(client.get(reverse("gallery:activity", args=[app.pk])).content.decode())
    assert "found an image added through the API" in words
    assert "Brief: “from sdk”" in words and "Tags: 3" in words
    assert "Added: 1" in words
    history = text(client.get(reverse("gallery:image", args=[row.pk])).content.decode())
    assert "found an image added through the API" in history


def test_an_api_image_deleted_through_the_api_is_logged_gone(client, personas):
    app, library = builtin(personas)
    entry = engine_add(library, "123,456")
    library_mirror_run(library_id=library.pk)
    row = Image.objects.get(library=library)
    engine_delete(entry)
    assert library_mirror_run(library_id=library.pk)["removed"] == 1
    row.refresh_from_db()
    assert row.status == ImageStatus.DELETED
    gone = Activity.objects.get(verb="image.gone", object_id=row.pk)
    assert gone.detail["kept"] is False
    login(client, personas, "owner")
    words = text(client.get(reverse("gallery:activity", args=[app.pk])).content.decode())
    assert "found the image gone from the backend" in words
    assert "Original kept: no" in words and "Removed: 1" in words


def test_a_library_and_a_job_are_named_in_the_viewers_language(editor, library, personas):
    with translation.override("en"):
        activity_record(
            actor=personas["owner"],
            application=library.application,
            verb=ActivityVerb.LIBRARY_CREATE,
            obj=library,
        )
    assert "Same image" in Activity.objects.get(verb=ActivityVerb.LIBRARY_CREATE).object_repr
    url = reverse("gallery:activity", args=[library.application.pk])
    page = text(editor.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode())
    assert f"{library.application.name} / 相同图检索" in page
    assert "Same image" not in page
