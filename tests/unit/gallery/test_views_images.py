"""Preview, edit, delete and re-push of one image."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from gallery.labels import Labels
from gallery.models import Image, ImageStatus
from gallery.services import task_base
from gallery.services.task_base import MAX_RETRIES
from gallery.services.uploads import image_upload
from tests import fakebaidu
from tests.conftest import make_image

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


def test_preview_shows_the_original_and_every_fact(client, personas, image):
    client.force_login(personas["viewer"])
    page = client.get(reverse("gallery:image", args=[image.pk])).content.decode()
    for fact in (
        image.sha256,
        image.cont_sign,
        "harbour.jpg",
        "JPEG",
        "320×240 px",
        "Indexed",
        reverse("gallery:image-original", args=[image.pk]),
        "uploaded",
    ):
        assert fact in page, fact
    assert "Search with this image" in page
    assert f'action="/images/{image.pk}/edit/"' not in page  # a viewer cannot edit


def test_an_outsider_gets_404(client, personas, image):
    client.force_login(personas["outsider"])
    for name in ("gallery:image", "gallery:image-delete"):
        assert client.get(reverse(name, args=[image.pk])).status_code == 404
    assert client.post(reverse("gallery:image-edit", args=[image.pk])).status_code == 404


def test_a_viewer_cannot_edit_or_delete(client, personas, image):
    client.force_login(personas["viewer"])
    assert (
        client.post(reverse("gallery:image-edit", args=[image.pk]), {"brief": "x"}).status_code
        == 403
    )
    assert client.post(reverse("gallery:image-delete", args=[image.pk])).status_code == 403
    image.refresh_from_db()
    assert image.brief == "harbour.jpg" and image.status == ImageStatus.INDEXED


def test_an_edit_reaches_the_backend_then_the_row(editor, image, commit, baidu):
    with commit():
        response = editor.post(
            reverse("gallery:image-edit", args=[image.pk]),
            {"brief": "Harbour at dusk", "tags": "7, 8"},
        )
    assert response.status_code == 302
    image.refresh_from_db()
    assert image.brief == "Harbour at dusk" and image.tags == [7, 8]
    assert image.pending_update is None
    update = [c for c in baidu.calls if c[1] == "update"][-1][2]
    assert update["cont_sign"] == image.cont_sign and update["brief"] == "Harbour at dusk"
    history = editor.get(reverse("gallery:image", args=[image.pk])).content.decode()
    assert "edited" in history and "Harbour at dusk" in history


def test_an_edit_in_flight_shows_progress(editor, image):
    # Without running the task, the row keeps what the backend holds and shows the wait.
    editor.post(reverse("gallery:image-edit", args=[image.pk]), {"brief": "New", "tags": "7"})
    image.refresh_from_db()
    assert image.brief == "harbour.jpg" and image.pending_update == {"brief": "New"}
    page = editor.get(reverse("gallery:image", args=[image.pk])).content.decode()
    assert "Update waiting for the backend" in page and "data-watch" in page
    assert 'value="New"' in page


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"brief": "", "tags": "7"}, "brief", "A brief is required."),
        ({"brief": "图" * 86, "tags": "7"}, "brief", "258 bytes"),
        ({"brief": "ok", "tags": "1,2,3"}, "tags", "At most two tags."),
        ({"brief": "ok", "tags": "99999"}, "tags", "from 1 to 65535"),
        ({"brief": "ok", "tags": ""}, "tags", "cannot remove labels"),
    ],
)
def test_bad_edits_are_explained_beside_the_field_and_change_nothing(
    editor, image, baidu, data, field, message
):
    calls = len(baidu.calls)
    response = editor.post(reverse("gallery:image-edit", args=[image.pk]), data)
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert 'class="field-error"' in response.content.decode()
    image.refresh_from_db()
    assert image.brief == "harbour.jpg" and image.tags == [7] and image.pending_update is None
    assert len(baidu.calls) == calls


def test_a_refused_update_is_shown_in_words(editor, image, commit, baidu):
    baidu.fail("same_hq", "update", 216680)
    with commit():
        editor.post(reverse("gallery:image-edit", args=[image.pk]), {"brief": "New", "tags": "7"})
    page = editor.get(reverse("gallery:image", args=[image.pk])).content.decode()
    assert "216680" in page and "no longer in the library" in page


def test_delete_asks_first(editor, image, commit, baidu, media):
    page = editor.get(reverse("gallery:image-delete", args=[image.pk])).content.decode()
    assert "Delete this image?" in page
    image.refresh_from_db()
    assert image.status == ImageStatus.INDEXED
    with commit():
        response = editor.post(reverse("gallery:image-delete", args=[image.pk]))
    assert response["Location"] == reverse("gallery:library", args=[image.library_id])
    image.refresh_from_db()
    assert image.status == ImageStatus.DELETED and not image.original
    assert editor.get(reverse("gallery:image", args=[image.pk])).status_code == 410  # tombstone
    assert [c[1] for c in baidu.calls][-1] == "delete"


def test_a_delete_in_flight_shows_progress(editor, image):
    editor.post(reverse("gallery:image-delete", args=[image.pk]))  # task not run
    image.refresh_from_db()
    assert image.status == ImageStatus.DELETING
    page = editor.get(reverse("gallery:image", args=[image.pk])).content.decode()
    assert "Deleting" in page and "data-watch" in page and "Delete…" not in page


def test_a_failed_image_can_be_pushed_again(editor, library, personas, commit, baidu, monkeypatch):
    monkeypatch.setitem(fakebaidu.ERRORS, 216203, "input image cannot handle")
    baidu.fail("same_hq", "add", 216203)
    with commit():
        failed = image_upload(
            actor=personas["editor"], library=library, data=make_image(9), filename="x.jpg"
        )
    failed.refresh_from_db()
    assert failed.status == ImageStatus.FAILED
    page = editor.get(reverse("gallery:image", args=[failed.pk])).content.decode()
    assert "216203" in page and "Re-push" in page
    with commit():
        editor.post(reverse("gallery:image-repush", args=[failed.pk]))
    failed.refresh_from_db()
    assert failed.status == ImageStatus.INDEXED and not failed.error_code


def test_an_image_waiting_for_the_backend_says_so_with_the_error_and_the_next_attempt(
    editor, library, personas, commit, baidu, monkeypatch
):
    monkeypatch.setattr(task_base, "backoff", lambda retries: 0)
    baidu.fail("same_hq", "add", *[282000] * (MAX_RETRIES + 1))
    with commit():
        waiting = image_upload(
            actor=personas["editor"], library=library, data=make_image(9), filename="x.jpg"
        )
    waiting.refresh_from_db()
    page = editor.get(reverse("gallery:image", args=[waiting.pk])).content.decode()
    assert "Waiting for the backend" in page and "282000" in page and "Failed" not in page
    at = timezone.localtime(waiting.next_attempt_at)
    assert re.search(
        rf'Next attempt at <time datetime="[^"]+" title="[^"]+">{at:%H:%M:%S} UTC</time>', page
    )
    assert "data-watch" in page and "Re-push" not in page
    grid = editor.get(reverse("gallery:library", args=[library.pk])).content.decode()
    assert "Waiting for the backend" in grid
    status = editor.get(
        reverse("gallery:library-status", args=[library.pk]), {"ids": waiting.pk}
    ).json()["images"][str(waiting.pk)]
    assert status["status_label"] == "Waiting for the backend" and status["waiting"]
    assert not status["done"]


def test_repush_of_an_indexed_image_is_refused(editor, image):
    response = editor.post(reverse("gallery:image-repush", args=[image.pk]), follow=True)
    assert "Only an image whose upload failed" in response.content.decode()
    assert Image.objects.get(pk=image.pk).status == ImageStatus.INDEXED


def test_a_duplicate_links_to_the_holder(editor, library, personas, image, commit, baidu):
    # A second row with the same bytes that slipped past the hash check (e.g. a race).
    with commit():
        twin = image_upload(
            actor=personas["editor"], library=library, data=make_image(2), filename="twin.jpg"
        )
    Image.objects.filter(pk=twin.pk).update(
        status=ImageStatus.FAILED, error_code="216681", error_msg="item exist", duplicate_of=image
    )
    page = editor.get(reverse("gallery:image", args=[twin.pk])).content.decode()
    assert "already in the library" in page
    assert reverse("gallery:image", args=[image.pk]) in page


def test_a_deleted_images_address_says_it_was_deleted_and_by_whom(
    editor, library, personas, commit, baidu, client
):
    with commit():
        image = image_upload(
            actor=personas["editor"], library=library, data=make_image(31), filename="gone.jpg"
        )
    with commit():
        editor.post(reverse("gallery:image-delete", args=[image.pk]))
    image.refresh_from_db()
    assert image.status == ImageStatus.DELETED
    page = editor.get(reverse("gallery:image", args=[image.pk]))
    text = page.content.decode()
    assert page.status_code == 410 and "data-tombstone" in text and "gone.jpg" in text
    assert f"Deleted by {personas['editor'].get_username()} on" in text
    # Its files and edits stay 404, and an outsider learns nothing.
    assert editor.get(reverse("gallery:image-thumbnail", args=[image.pk])).status_code == 404
    client.force_login(personas["outsider"])
    assert client.get(reverse("gallery:image", args=[image.pk])).status_code == 404


def test_the_preview_links_the_next_newer_and_older_images(editor, library):
    made = [
        Image.objects.create(
            library=library,
            sha256=f"{i:064d}",
            width=1,
            height=1,
            bytes=1,
            format="JPEG",
            brief=f"n{i}.jpg",
            status=ImageStatus.INDEXED,
            cont_sign=f"{i},{i}",
        )
        for i in range(3)
    ]
    Image.objects.filter(pk=made[1].pk).update(created_at=made[0].created_at)  # a tie: by id
    middle = editor.get(reverse("gallery:image", args=[made[1].pk])).content.decode()
    assert f'href="/images/{made[2].pk}/" rel="prev"' in middle and "Newer: n2.jpg" in middle
    assert f'href="/images/{made[0].pk}/" rel="next"' in middle and "Older: n0.jpg" in middle
    newest = editor.get(reverse("gallery:image", args=[made[2].pk])).content.decode()
    assert "data-newer" not in newest and "Older: n1.jpg" in newest
