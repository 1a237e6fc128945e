"""gallery.services.jobs and the batch pages: upload batches, cancel, retry, library full,
clear, re-push, copy."""

from __future__ import annotations

import pytest
from django.urls import reverse

from gallery.models import Activity, Application, Batch, Image, ImageStatus, Library
from gallery.services import sync
from gallery.services.batches import NOT_SENT_FULL
from gallery.services.jobs import batch_cancel, library_copy, library_repush
from gallery.services.sync import images_add_run
from gallery.services.uploads import LibraryFull, batch_add_files, batch_create, image_upload
from tests.conftest import make_image
from tests.unit.gallery.kit import jpeg, login, start, upload_committed

pytestmark = pytest.mark.django_db


def test_files_posted_into_a_batch_become_its_rows_and_it_ends_done(
    client, personas, library, commit
):
    login(client, personas, "editor")
    batch = start(client, library, commit, files_follow="1", tags="7").json()
    with commit():
        lines = client.post(
            batch["files_url"], {"files": [jpeg("a.jpg", 1), jpeg("b.jpg", 2), jpeg("a2.jpg", 1)]}
        ).json()["results"]
    assert [line["ok"] for line in lines] == [True, True, False]
    assert str(lines[2]["error"]["code"]) == "216681" and lines[2]["duplicate"]["url"]
    client.post(batch["close_url"], HTTP_ACCEPT="application/json")
    row = Batch.objects.get()
    assert row.status == Batch.Status.DONE and row.total == 3
    assert set(row.images.values_list("status", flat=True)) == {"indexed"}
    assert [image.tags for image in row.images.all()] == [[7], [7]]
    page = client.get(reverse("gallery:batch", args=[row.pk])).content.decode()
    # a2.jpg was refused for a.jpg's bytes: its line names the row already here.
    assert "a2.jpg" in page and "216681" in page and "Already here as “a.jpg”" in page
    # … and offers to give that row the refused file's brief and tags instead.
    update_url = lines[2]["duplicate"]["update_url"]
    assert "brief=a2.jpg" in update_url and "tags=7" in update_url
    assert "Update its brief and tags instead" in page and "data-update-instead" in page
    edit = client.get(update_url).content.decode()
    assert "data-proposed" in edit and 'value="a2.jpg"' in edit
    plain = client.get(lines[2]["duplicate"]["url"]).content.decode()
    assert "data-proposed" not in plain and 'value="a.jpg"' in plain


def test_urls_are_downloaded_by_a_task_with_every_failure_in_words(
    client,
    personas,
    library,
    commit,
    web,
):
    login(client, personas, "editor")
    urls = f"{web}/cat.jpg\n{web}/missing.jpg\n{web}/huge.jpg"
    batch = start(client, library, commit, urls=urls).json()
    row = Batch.objects.get(pk=batch["id"])
    assert row.status == Batch.Status.DONE and row.cursor == 3
    image = row.images.get()
    assert image.source_kind == "url" and image.status == ImageStatus.INDEXED
    codes = [p["code"] for p in row.problems]
    assert sorted(codes) == [216202, 282113]  # too large; not found
    page = client.get(batch["url"] + "?fragment=1").content.decode()
    assert "missing.jpg" in page and "huge.jpg" in page


def test_a_batch_needs_input_and_an_editor(client, personas, library, commit):
    login(client, personas, "editor")
    response = start(client, library, commit)
    assert response.status_code == 400 and not Batch.objects.exists()
    login(client, personas, "viewer")
    assert start(client, library, commit, urls="http://x/a.jpg").status_code == 403
    login(client, personas, "outsider")
    assert start(client, library, commit, urls="http://x/a.jpg").status_code == 404


def test_the_batch_page_is_for_members_only(client, personas, library):
    batch = batch_create(actor=personas["editor"], library=library)
    url = reverse("gallery:batch", args=[batch.pk])
    assert login(client, personas, "viewer").get(url).status_code == 200
    assert client.post(reverse("gallery:batch-cancel", args=[batch.pk])).status_code == 403
    assert client.post(reverse("gallery:batch-retry", args=[batch.pk])).status_code == 403
    assert client.post(reverse("gallery:batch-files", args=[batch.pk])).status_code == 403
    login(client, personas, "outsider")
    assert client.get(url).status_code == 404
    assert client.post(reverse("gallery:batch-cancel", args=[batch.pk])).status_code == 404


def test_cancel_tombstones_rows_not_sent_without_a_remote_call(
    client, personas, library, baidu, media, commit
):
    batch = batch_create(actor=personas["editor"], library=library)
    # No commit callbacks run: the rows stay pending, as if the worker had not reached them.
    for seed in (1, 2):
        batch_add_files(batch=batch, files=[(make_image(seed), f"{seed}.jpg")])
    calls = len(baidu.requests) if hasattr(baidu, "requests") else None
    login(client, personas, "editor")
    with commit():
        response = client.post(reverse("gallery:batch-cancel", args=[batch.pk]))
    assert response.status_code == 302
    batch.refresh_from_db()
    assert batch.status == Batch.Status.CANCELLED
    assert set(batch.images.values_list("status", flat=True)) == {"deleted"}
    assert not [p for p in media.rglob("*") if p.is_file() and "originals" in str(p)]
    if calls is not None:
        assert len(baidu.requests) == calls
    # The batch's page lists what it did not send, by file name.
    assert [(p["name"], p["message"]) for p in batch.problems] == [
        ("1.jpg", "Not sent: the batch was cancelled."),
        ("2.jpg", "Not sent: the batch was cancelled."),
    ]
    page = client.get(reverse("gallery:batch", args=[batch.pk])).content.decode()
    assert "1.jpg" in page and "2.jpg" in page and "Not sent: the batch was cancelled." in page
    # A second cancel says the batch is not running.
    client.post(reverse("gallery:batch-cancel", args=[batch.pk]))
    late = batch_add_files(batch=batch, files=[(make_image(3), "3.jpg")])[0]
    assert not isinstance(late, Image) and "stopped" in Batch.objects.get().problems[-1]["message"]


def test_library_full_stops_the_batch_and_retry_failed_pushes_again(
    client, personas, library, baidu, commit
):
    batch = batch_create(actor=personas["editor"], library=library)
    for seed in (1, 2, 3):
        batch_add_files(batch=batch, files=[(make_image(seed), f"{seed}.jpg")])
    baidu.fail("same_hq", "add", 19)
    first, *rest = batch.images.order_by("pk")
    with commit():
        images_add_run(image_ids=[first.pk])
    batch.refresh_from_db()
    assert batch.status == Batch.Status.FULL and "full" in batch.message
    assert set(batch.images.values_list("error_code", flat=True)) == {"19"}
    for row in rest:
        row.refresh_from_db()
        assert row.status == ImageStatus.FAILED and row.error_msg == NOT_SENT_FULL
    # A file posted after the stop is kept too, not sent.
    late = batch_add_files(batch=batch, files=[(make_image(4), "4.jpg")])[0]
    assert isinstance(late, Image) and late.status == ImageStatus.FAILED
    assert late.error_msg == NOT_SENT_FULL and late.original
    login(client, personas, "editor")
    assert (
        "Stopped: library full"
        in client.get(reverse("gallery:batch", args=[batch.pk])).content.decode()
    )
    with commit():
        client.post(reverse("gallery:batch-retry", args=[batch.pk]))
    batch.refresh_from_db()
    assert set(batch.images.values_list("status", flat=True)) == {"indexed"}
    assert batch.status == Batch.Status.DONE


def test_a_batch_bigger_than_the_room_left_indexes_what_fits_and_keeps_the_rest(
    client, personas, library, commit, media
):
    library.capacity = 5
    library.save()
    login(client, personas, "editor")
    batch = start(client, library, commit, files_follow="1").json()
    files = [jpeg(f"{seed}.jpg", seed) for seed in range(1, 9)]
    with commit():
        lines = client.post(batch["files_url"], {"files": files}).json()["results"]
        client.post(batch["close_url"], HTTP_ACCEPT="application/json")
    assert [line["ok"] for line in lines] == [True] * 8  # every file became a row
    row = Batch.objects.get()
    indexed = row.images.filter(status=ImageStatus.INDEXED)
    kept = row.images.filter(status=ImageStatus.FAILED)
    assert indexed.count() == 5  # all that fit: none of them was failed for the others
    assert kept.count() == 3 and {(r.error_code, r.error_msg) for r in kept} == {
        ("19", NOT_SENT_FULL)
    }
    assert all((media / r.original.name).is_file() for r in kept)  # kept to be sent later
    assert row.status == Batch.Status.FULL
    page = client.get(reverse("gallery:batch", args=[row.pk])).content.decode()
    assert "Stopped: library full" in page and "Retry failed" in page
    library.capacity = 8
    library.save()
    with commit():
        client.post(reverse("gallery:batch-retry", args=[row.pk]))
    row.refresh_from_db()
    assert row.status == Batch.Status.DONE
    assert set(row.images.values_list("status", flat=True)) == {"indexed"}


def test_a_single_upload_into_a_full_library_is_refused_with_19(personas, library):
    library.capacity = 1
    library.save()
    batch = batch_create(actor=personas["editor"], library=library)
    batch_add_files(batch=batch, files=[(make_image(1), "1.jpg")])
    with pytest.raises(LibraryFull):
        image_upload(
            actor=personas["editor"], library=library, data=make_image(2), filename="2.jpg"
        )
    assert library.images.count() == 1


def test_clearing_a_baidu_library_deletes_known_rows_in_chunks(
    client, personas, library, baidu, commit, monkeypatch
):
    for seed in range(5):
        upload_committed(library, personas, seed, commit)
    monkeypatch.setattr(sync, "DELETE_CHUNK", 2)
    login(client, personas, "editor")
    url = reverse("gallery:library-clear", args=[library.pk])
    page = client.get(url).content.decode()
    assert "Images added outside Tuku remain" in page and library.confirm_name in page
    assert client.post(url, {"confirm": "wrong"}).status_code == 400
    with commit():
        response = client.post(url, {"confirm": library.confirm_name})
    batch = Batch.objects.get(kind=Batch.Kind.CLEAR)
    assert response.url == reverse("gallery:batch", args=[batch.pk])
    assert set(library.images.values_list("status", flat=True)) == {"deleted"}
    assert not baidu.libraries.get("same_hq") if hasattr(baidu, "libraries") else True
    batch.refresh_from_db()
    assert batch.status == Batch.Status.DONE and batch.total == 5
    assert Activity.objects.filter(verb="library.clear").exists()


def test_clear_needs_an_editor(client, personas, library):
    url = reverse("gallery:library-clear", args=[library.pk])
    assert login(client, personas, "viewer").post(url, {"confirm": "x"}).status_code == 403
    assert login(client, personas, "outsider").get(url).status_code == 404


def test_repush_readds_every_row_and_keeps_the_cont_sign_of_images_still_there(
    client, personas, library, baidu, commit
):
    kept = upload_committed(library, personas, 1, commit)
    lost = upload_committed(library, personas, 2, commit)
    kept.refresh_from_db()
    lost.refresh_from_db()
    old_lost = lost.cont_sign
    baidu.fail("same_hq", "add", 216681)  # the first is still there
    login(client, personas, "editor")
    with commit():
        response = client.post(reverse("gallery:library-repush", args=[library.pk]))
    batch = Batch.objects.get(kind=Batch.Kind.REPUSH)
    assert response.url == reverse("gallery:batch", args=[batch.pk])
    kept_after = Image.objects.get(pk=kept.pk)
    assert kept_after.status == ImageStatus.INDEXED and kept_after.cont_sign == kept.cont_sign
    lost.refresh_from_db()
    assert lost.status == ImageStatus.INDEXED and lost.cont_sign == old_lost
    assert batch.images.count() == 2
    batch.refresh_from_db()
    assert batch.status == Batch.Status.DONE


def test_cancelling_a_repush_puts_rows_back_as_they_were(personas, library, commit):
    row = upload_committed(library, personas, 1, commit)
    batch = library_repush(actor=personas["editor"], library=library)  # not committed
    batch_cancel(actor=personas["editor"], batch=batch)
    row.refresh_from_db()
    assert row.status == ImageStatus.INDEXED


def test_copy_goes_to_another_library_the_user_may_upload_to(
    client, personas, library, baidu, commit, application
):
    upload_committed(library, personas, 1, commit)
    upload_committed(library, personas, 2, commit)
    other = Application.objects.create(
        name="Other",
        backend="baidu",
        base_url="https://aip.baidubce.com",
        app_id="7654321",
        api_key=baidu.api_key,
        secret_key=baidu.secret_key,
        services=["same_hq"],
        qps=0,
    )
    other.memberships.create(user=personas["editor"], role="editor")
    target = Library.objects.create(application=other, service="same_hq", registered=True)
    login(client, personas, "editor")
    url = reverse("gallery:library-copy", args=[library.pk])
    page = client.get(url).content.decode()
    assert "Other" in page
    assert client.post(url, {"target": library.pk}).status_code == 400
    with pytest.raises(Exception, match="another library"):
        library_copy(actor=personas["editor"], source=library, target=library)
    baidu.fail("same_hq", "add", 216681)
    with commit():
        response = client.post(url, {"target": target.pk})
    batch = Batch.objects.get(kind=Batch.Kind.COPY)
    assert response.url == reverse("gallery:batch", args=[batch.pk])
    copies = list(target.images.order_by("pk"))
    assert len(copies) == 2 and all(c.original.name for c in copies)
    assert {c.sha256 for c in copies} == set(library.images.values_list("sha256", flat=True))
    assert {c.original.name for c in copies}.isdisjoint(
        library.images.values_list("original", flat=True)
    )
    batch.refresh_from_db()
    assert batch.status == Batch.Status.DONE and batch.cursor > 0
