"""The upload page: files uploaded in the request with one result line each, URLs through a
batch whose task downloads them, live status; the safe downloader; "is this image already
here?"."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from gallery import fetch
from gallery.models import Activity, Batch, Image, ImageStatus
from tests import fakebaidu
from tests.conftest import make_image
from tests.unit.gallery.conftest import WebHandler
from tests.unit.gallery.kit import files_under, start
from wire import urlfetch

pytestmark = pytest.mark.django_db


@pytest.fixture
def editor(client, personas):
    client.force_login(personas["editor"])
    return client


def jpeg(name="photo.jpg", seed=1, **kwargs) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, make_image(seed, **kwargs), content_type="image/jpeg")


def post(client, library, commit=None, *, json=True, **data):
    url = reverse("gallery:upload", args=[library.pk])
    headers = {"HTTP_ACCEPT": "application/json"} if json else {}
    if commit is None:
        return client.post(url, data, **headers)
    with commit():
        return client.post(url, data, **headers)


def test_the_page_offers_files_folders_urls_and_the_limits(editor, library):
    page = editor.get(reverse("gallery:upload", args=[library.pk])).content.decode()
    assert 'type="file" name="files" multiple' in page and "webkitdirectory" in page
    assert 'name="urls"' in page and 'name="tags"' in page
    assert "shortest side at least 50 px" in page
    assert "upload.js" in page and "https://" not in page.split("<body>")[1].split("</main>")[
        0
    ].replace("https://aip", "")


def test_a_viewer_cannot_upload_and_an_outsider_gets_404(client, personas, library, media):
    url = reverse("gallery:upload", args=[library.pk])
    client.force_login(personas["viewer"])
    assert client.get(url).status_code == 403
    assert client.post(url, {"files": jpeg()}).status_code == 403
    client.force_login(personas["outsider"])
    assert client.get(url).status_code == 404
    assert client.post(url, {"files": jpeg()}).status_code == 404
    assert not Image.objects.exists() and files_under(media) == []


def test_one_file_becomes_a_row_that_gets_indexed(editor, library, commit, baidu):
    response = post(editor, library, commit, files=jpeg("Hafen.jpg"), tags="7, 9")
    result = response.json()["results"][0]
    assert result["ok"] and result["name"] == "Hafen.jpg"
    image = Image.objects.get(pk=result["image"]["id"])
    assert image.brief == "Hafen.jpg" and image.tags == [7, 9]
    assert image.status == ImageStatus.INDEXED and image.cont_sign
    status = editor.get(reverse("gallery:library-status", args=[library.pk]), {"ids": image.pk})
    assert status.json()["images"][str(image.pk)]["done"] is True
    assert Activity.objects.filter(verb="image.upload", object_id=image.pk).exists()


def test_many_files_each_get_a_line_including_the_refused_ones(editor, library, commit, baidu):
    files = [
        jpeg("a.jpg", 1),
        jpeg("b.jpg", 2),
        SimpleUploadedFile("notes.txt", b"hello", content_type="text/plain"),
        SimpleUploadedFile("empty.jpg", b"", content_type="image/jpeg"),
        jpeg("tiny.jpg", 3, size=(40, 40)),
    ]
    results = post(editor, library, commit, files=files).json()["results"]
    assert [r["name"] for r in results] == ["a.jpg", "b.jpg", "notes.txt", "empty.jpg", "tiny.jpg"]
    assert [r["ok"] for r in results] == [True, True, False, False, False]
    assert results[2]["error"]["code"] == "216201"
    assert "PNG, JPEG or BMP" in results[2]["error"]["explanation"]
    assert results[3]["error"]["code"] in ("216200", "216201")
    assert results[4]["error"]["code"] == "216202" and "50 px" in results[4]["error"]["message"]
    assert Image.objects.count() == 2


@pytest.mark.parametrize(
    ("upload", "code", "words"),
    [
        (SimpleUploadedFile("big.bmp", b"BM" + b"\0" * (3 * 1024 * 1024 + 10)), "216202", "3 MiB"),
        (
            SimpleUploadedFile("x.gif", make_image(5, fmt="GIF")),
            "216201",
            "GIF images are not accepted",
        ),
        (SimpleUploadedFile("broken.jpg", make_image(5)[:600]), "216201", "damaged"),
        (SimpleUploadedFile("wide.jpg", make_image(5, size=(4200, 100))), "216202", "4096"),
    ],
)
def test_bad_files_are_refused_with_the_reason_and_nothing_is_stored(
    editor, library, media, upload, code, words
):
    results = post(editor, library, files=upload).json()["results"]
    assert results[0]["ok"] is False and results[0]["error"]["code"] == code
    assert words in results[0]["error"]["message"]
    assert not Image.objects.exists() and files_under(media) == []


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (
            {"brief": "é" * 129},
            "brief",
            "The brief is 258 bytes in UTF-8; at most 256 are allowed.",
        ),
        ({"tags": "1,2,3"}, "tags", "At most two tags."),
        ({"tags": "0"}, "tags", "from 1 to 65535"),
        ({"tags": "65536"}, "tags", "from 1 to 65535"),
        ({"tags": "seven"}, "tags", "from 1 to 65535"),
    ],
)
def test_bad_fields_are_explained_beside_them_and_nothing_is_written(
    editor, library, media, data, field, message
):
    response = post(editor, library, files=jpeg(), **data)
    assert response.status_code == 400
    assert message in response.json()["errors"][field][0]["message"]
    page = post(editor, library, json=False, files=jpeg(), **data)
    assert page.status_code == 400 and message.replace("'", "&#x27;") in page.content.decode()
    assert not Image.objects.exists() and files_under(media) == []


def test_a_brief_is_for_a_single_file_only(editor, library, media):
    response = post(editor, library, files=[jpeg("a.jpg", 1), jpeg("b.jpg", 2)], brief="same")
    assert response.status_code == 400 and "single file" in str(response.json()["errors"]["brief"])
    assert not Image.objects.exists()


def test_a_given_brief_replaces_the_file_name(editor, library, commit, baidu):
    post(editor, library, commit, files=jpeg("IMG_0001.jpg"), brief='{"sku": "A-1"}')
    assert Image.objects.get().brief == '{"sku": "A-1"}'


def test_product_uploads_take_class_ids(editor, product_library, commit, baidu):
    results = post(
        editor,
        product_library,
        commit,
        files=jpeg(size=(400, 320)),
        class_id1="3",
        class_id2="70000",
    )
    assert results.status_code == 400 and "class_id2" in results.json()["errors"]
    post(editor, product_library, commit, files=jpeg(size=(400, 320)), class_id1="3")
    image = Image.objects.get()
    assert image.class_id1 == 3 and image.class_id2 is None


def test_nothing_to_upload_is_explained(editor, library):
    response = post(editor, library)
    assert response.status_code == 400
    assert "Choose at least one file" in str(response.json()["errors"])


def test_a_duplicate_links_to_the_image_already_there(editor, library, commit, baidu):
    first = post(editor, library, commit, files=jpeg("one.jpg")).json()["results"][0]
    again = post(editor, library, commit, files=jpeg("two.jpg")).json()["results"][0]
    assert again["ok"] is False and again["error"]["code"] == "216681"
    assert again["duplicate"]["id"] == first["image"]["id"]
    assert again["duplicate"]["url"] == reverse("gallery:image", args=[first["image"]["id"]])
    assert Image.objects.count() == 1


def test_the_same_brief_is_a_warning_not_a_refusal(editor, library, commit, baidu):
    post(editor, library, commit, files=jpeg("x.jpg", 1))
    second = post(editor, library, commit, files=jpeg("x.jpg", 2)).json()["results"][0]
    assert second["ok"] and "same brief" in second["warning"]


def test_a_backend_failure_is_shown_in_words(editor, library, commit, baidu, monkeypatch):
    monkeypatch.setitem(fakebaidu.ERRORS, 216203, "input image cannot handle")
    baidu.fail("same_hq", "add", 216203)
    result = post(editor, library, commit, files=jpeg()).json()["results"][0]
    image = Image.objects.get(pk=result["image"]["id"])
    assert image.status == ImageStatus.FAILED
    row = editor.get(
        reverse("gallery:library-status", args=[library.pk]), {"ids": image.pk}
    ).json()["images"][str(image.pk)]
    assert row["error"] == {
        "code": "216203",
        "message": "input image cannot handle",
        "explanation": row["error"]["explanation"],
    }
    assert "too little usable content" in row["error"]["explanation"]


def test_without_javascript_the_page_lists_the_results(editor, library, commit, baidu):
    response = post(
        editor,
        library,
        commit,
        json=False,
        files=[jpeg("ok.jpg"), SimpleUploadedFile("bad.txt", b"x")],
    )
    page = response.content.decode()
    assert response.status_code == 200 and "ok.jpg" in page and "bad.txt" in page
    assert "216201" in page


# --- URLs and the downloader ------------------------------------------------------------


def test_a_url_is_downloaded_by_a_batch_and_kept_as_the_original(
    editor, library, commit, baidu, web
):
    response = post(editor, library, commit, urls=f"{web}/move").json()
    batch = Batch.objects.get()
    assert response["ok"] and response["batch"]["url"] == reverse("gallery:batch", args=[batch.pk])
    image = Image.objects.get()
    assert image.batch_id == batch.pk and image.status == ImageStatus.INDEXED
    assert image.source_kind == "url" and image.source == f"{web}/move"
    assert image.brief == "cat.jpg" and image.original.read() == make_image(42)
    form = baidu.calls[-1][2]
    assert "image" in form and "url" not in form


@pytest.mark.parametrize(
    ("path", "code"),
    [("/missing.jpg", 282113), ("/loop", 282113), ("/huge.jpg", 216202)],
)
def test_download_failures_carry_the_wire_code(web, path, code):
    with pytest.raises(fetch.FetchError) as failed:
        fetch.fetch(web + path)
    assert failed.value.code == code


def test_a_slow_server_times_out(web, monkeypatch):
    monkeypatch.setattr(urlfetch, "TIMEOUT", 0.5)
    with pytest.raises(fetch.FetchError) as failed:
        fetch.fetch(web + "/slow.jpg")
    assert failed.value.code == 282112


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("", 282114),
        ("http://x/" + "a" * 1100, 282114),
        ("ftp://example.com/a.jpg", 282111),
        ("file:///etc/passwd", 282111),
        ("javascript:alert(1)", 282111),
        ("http://exa mple.com/a.jpg", 282111),
        ("http://127.0.0.1/a.jpg", 282113),
        ("http://10.1.2.3/a.jpg", 282113),
        ("http://169.254.169.254/latest/meta-data", 282113),
        ("http://[::1]/a.jpg", 282113),
        ("http://[::ffff:127.0.0.1]/a.jpg", 282113),
        ("http://localhost/a.jpg", 282113),
    ],
)
def test_bad_and_private_urls_are_refused_without_a_request(url, code, settings):
    settings.ENGINE_URL_FETCH_PRIVATE = False
    with pytest.raises(fetch.FetchError) as failed:
        fetch.fetch(url)
    assert failed.value.code == code


def test_a_redirect_to_a_private_address_is_refused(web, settings, monkeypatch):
    # The first hop is allowed (a stand-in for a public host), the redirect target is not.
    calls = []

    def allowed(ip):
        calls.append(ip)
        return len(calls) == 1

    monkeypatch.setattr(fetch, "is_allowed", allowed)
    with pytest.raises(fetch.FetchError) as failed:
        fetch.fetch(web + "/move")
    assert failed.value.code == 282113 and len(calls) == 2


def test_url_lines_each_get_a_line_on_the_batch_page(editor, library, commit, baidu, settings):
    settings.ENGINE_URL_FETCH_PRIVATE = False
    post(editor, library, commit, urls="http://127.0.0.1/a.jpg\n\n  ftp://x/y.jpg  \n")
    batch = Batch.objects.get()
    assert [str(p["code"]) for p in batch.problems] == ["282113", "282111"]
    assert "private" in batch.problems[0]["message"]
    page = editor.get(reverse("gallery:batch", args=[batch.pk])).content.decode()
    assert "282113" in page and "282111" in page
    assert "Download the file and upload it" in page


def test_without_javascript_urls_become_a_batch_and_nothing_is_downloaded_in_the_request(
    editor, library, baidu, web, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as after_commit:
        response = post(editor, library, json=False, urls=f"{web}/cat.jpg", tags="7")
    batch = Batch.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("gallery:batch", args=[batch.pk])
    assert batch.urls == [f"{web}/cat.jpg"] and batch.labels["tags"] == [7]
    assert WebHandler.seen == [] and not Image.objects.exists()
    for callback in after_commit:  # the batch's task, once the request has committed
        callback()
    assert WebHandler.seen == ["/cat.jpg"]
    assert Image.objects.get(batch=batch).tags == [7]


def test_files_given_with_urls_go_into_the_same_batch(editor, library, commit, baidu, web):
    response = post(editor, library, commit, files=jpeg("a.jpg"), urls=f"{web}/cat.jpg")
    batch = Batch.objects.get()
    assert [line["name"] for line in response.json()["results"]] == ["a.jpg"]
    assert sorted(batch.images.values_list("brief", flat=True)) == ["a.jpg", "cat.jpg"]


# --- is this image already here? --------------------------------------------------------


def check(client, library, **data):
    return client.post(
        reverse("gallery:library-check", args=[library.pk]), data, HTTP_X_REQUESTED_WITH="fetch"
    )


def test_an_exact_copy_is_found_by_its_hash(editor, library, commit, baidu):
    post(editor, library, commit, files=jpeg("one.jpg"))
    calls = len(baidu.calls)
    response = check(editor, library, image=jpeg())
    assert "Exact copy in library" in response.content.decode()
    assert len(baidu.calls) == calls  # no search needed


def test_a_failed_upload_that_never_reached_the_library_is_no_exact_copy(
    editor, library, commit, baidu, monkeypatch
):
    monkeypatch.setitem(fakebaidu.ERRORS, 216203, "input image cannot handle")
    baidu.fail("same_hq", "add", 216203)
    post(editor, library, commit, files=jpeg("one.jpg"))
    page = check(editor, library, image=jpeg()).content.decode()
    assert "Exact copy in library" not in page and "Not found" in page


def test_otherwise_the_search_decides_against_the_threshold(editor, library, commit, baidu):
    post(editor, library, commit, files=jpeg("one.jpg", 1))
    page = check(editor, library, image=jpeg("two.jpg", 2)).content.decode()
    assert "Not found: the best match scores 0.31, below the threshold 0.90." in page
    assert baidu.calls[-1][2]["rn"] == "10"
    library.match_threshold = 0.3
    library.save()
    page = check(editor, library, image=jpeg("two.jpg", 2)).content.decode()
    assert "Likely in library" in page


def test_check_needs_an_image(editor, library):
    response = check(editor, library)
    assert response.status_code == 400 and "Choose an image" in response.content.decode()
    bad = check(editor, library, image=SimpleUploadedFile("x.txt", b"text"))
    assert bad.status_code == 400 and "not a readable image" in bad.content.decode()


def test_a_viewer_may_check_but_an_outsider_gets_404(client, personas, library, baidu):
    client.force_login(personas["viewer"])
    assert check(client, library, image=jpeg()).status_code == 200
    client.force_login(personas["outsider"])
    assert check(client, library, image=jpeg()).status_code == 404


def test_a_duplicate_in_a_batch_names_the_image_already_there(editor, library, commit, baidu):
    first = post(editor, library, commit, files=jpeg("one.jpg")).json()["results"][0]
    made = start(editor, library, commit, files_follow="1", urls="").json()
    with commit():
        lines = editor.post(
            made["files_url"],
            {"files": [jpeg("two.jpg"), jpeg("three.jpg", 2)]},
            HTTP_ACCEPT="application/json",
        ).json()
    refused = lines["results"][0]
    assert refused["name"] == "two.jpg" and refused["error"]["code"] == "216681"
    assert refused["duplicate"]["id"] == first["image"]["id"]
    assert refused["duplicate"]["brief"] == "one.jpg"  # the row already here, not the file
    assert lines["results"][1]["ok"]


def test_an_upload_that_failed_before_reaching_the_library_is_not_already_here(
    editor, library, commit, baidu, monkeypatch
):
    monkeypatch.setitem(fakebaidu.ERRORS, 216203, "input image cannot handle")
    baidu.fail("same_hq", "add", 216203)
    first = post(editor, library, commit, files=jpeg("one.jpg")).json()["results"][0]
    assert Image.objects.get(pk=first["image"]["id"]).status == ImageStatus.FAILED
    again = post(editor, library, commit, files=jpeg("one.jpg")).json()["results"][0]
    assert again["ok"], again
    assert Image.objects.get(pk=again["image"]["id"]).status == ImageStatus.INDEXED


def test_an_editor_sets_the_already_here_threshold_beside_the_check(
    editor, library, client, personas
):
    url = reverse("gallery:library-threshold", args=[library.pk])
    page = editor.get(reverse("gallery:upload", args=[library.pk])).content.decode()
    assert url in page and 'value="0.90"' in page
    response = editor.post(url, {"threshold": "0.8"})
    assert response.status_code == 302
    library.refresh_from_db()
    assert library.match_threshold == 0.8
    activity = Activity.objects.get(verb="library.threshold")
    assert activity.detail == {"previous": 0.9, "threshold": 0.8}
    refused = editor.post(url, {"threshold": "1.5"})
    assert refused.status_code == 400
    assert "Ensure this value is less than or equal to 1." in refused.content.decode()
    library.refresh_from_db()
    assert library.match_threshold == 0.8
    client.force_login(personas["viewer"])
    assert client.post(url, {"threshold": "0.5"}).status_code == 403
