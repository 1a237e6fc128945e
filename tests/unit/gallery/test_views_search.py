"""The camera-style search: query by file or URL, results in the backend's order with our
thumbnails and scores, "no local copy", tombstones hidden by default."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from gallery.models import Activity, Image
from gallery.services.uploads import image_upload
from tests import fakebaidu
from tests.conftest import make_image
from tests.fakebaidu import Entry
from tests.unit.gallery.conftest import WebHandler

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored(library, personas, commit, baidu):
    made = []
    for seed in (1, 2, 3):
        with commit():
            image = image_upload(
                actor=personas["editor"],
                library=library,
                data=make_image(seed),
                filename=f"p{seed}.jpg",
            )
        image.refresh_from_db()
        made.append(image)
    return made


@pytest.fixture
def viewer(client, personas):
    client.force_login(personas["viewer"])
    return client


def search(client, library, data: bytes | None = None, follow=True, **fields):
    if data is not None:
        fields["image"] = SimpleUploadedFile("q.jpg", data, content_type="image/jpeg")
    return client.post(reverse("gallery:search", args=[library.pk]), fields, follow=follow)


def hits(response) -> list[str]:
    return re.findall(r'data-score="([0-9.]+)"', response.content.decode())


def test_a_query_redirects_to_a_result_page_that_can_be_reloaded(viewer, library, stored):
    response = search(viewer, library, make_image(2), follow=False)
    assert response.status_code == 302 and "?q=" in response["Location"]
    page = viewer.get(response["Location"])
    assert hits(page) == ["1.0000", "0.3100", "0.3100"]
    html = page.content.decode()
    assert "3 results" in html and "1.00" in html and "0.31" in html
    first = html.split('class="cell hit')[1]
    assert "p2.jpg" in first and stored[1].cont_sign in first
    assert reverse("gallery:image-thumbnail", args=[stored[1].pk]) in first
    assert reverse("gallery:image", args=[stored[1].pk]) in first
    assert viewer.get(response["Location"]).status_code == 200  # the query image is kept


def test_the_query_image_is_the_users_alone(client, personas, library, stored):
    client.force_login(personas["viewer"])
    location = search(client, library, make_image(2), follow=False)["Location"]
    token = location.split("q=")[1].split("&")[0]
    image_url = reverse("gallery:search-query-image", args=[library.pk]) + f"?q={token}"
    assert client.get(image_url).status_code == 200
    client.force_login(personas["editor"])
    assert client.get(image_url).status_code == 404
    assert "has expired" in client.get(location).content.decode()


def test_options_reach_the_backend(viewer, library, stored, baidu):
    search(viewer, library, make_image(2), tags="7,9", tag_logic="1", rn="20")
    form = baidu.calls[-1][2]
    assert (form["tags"], form["tag_logic"], form["rn"]) == ("7,9", "1", "20")


def test_a_hit_added_outside_tuku_has_no_local_copy(viewer, library, stored, baidu):
    baidu.libraries["same_hq"]["1,1"] = Entry("0" * 64, "added by a script")
    html = search(viewer, library, make_image(2)).content.decode()
    assert "no local copy" in html and "added by a script" in html


def test_a_hit_without_a_cont_sign_match_maps_by_brief(viewer, library, stored, baidu):
    entry = baidu.libraries["same_hq"].pop(stored[0].cont_sign)
    baidu.libraries["same_hq"]["9,9"] = entry  # same brief, another signature
    html = search(viewer, library, make_image(2)).content.decode()
    assert reverse("gallery:image-thumbnail", args=[stored[0].pk]) in html


def test_tombstoned_hits_are_hidden_by_default(viewer, library, stored, baidu):
    # The hosted service may return a deleted image for hours: fake that by keeping its entry.
    entry = baidu.libraries["same_hq"][stored[0].cont_sign]
    Image.objects.filter(pk=stored[0].pk).update(status="deleted")
    baidu.libraries["same_hq"][stored[0].cont_sign] = entry
    response = search(viewer, library, make_image(2))
    html = response.content.decode()
    deleted = [c for c in html.split("<li class=")[1:] if "data-deleted" in c]
    assert len(deleted) == 1 and " hidden>" in deleted[0] and "deleted" in deleted[0]
    assert "Show deleted hits (1)" in html
    shown = viewer.get(response.redirect_chain[-1][0] + "&show_deleted=1").content.decode()
    assert [
        c for c in shown.split("<li class=")[1:] if "data-deleted" in c and " hidden>" in c
    ] == []


def test_the_minimum_score_hides_weak_hits(viewer, library, stored):
    html = search(viewer, library, make_image(2), min_score="0.5").content.decode()
    cells = html.split("<li class=")[1:]
    assert sum(1 for c in cells if "hit" in c and " hidden>" in c) == 2


@pytest.mark.parametrize(
    ("fields", "data", "message"),
    [
        ({}, None, "Choose an image, paste one, take a photo or give a URL."),
        ({}, b"not an image", "not a readable image"),
        ({}, make_image(3, size=(30, 30)), "50 px"),
        ({"tags": "1,2,3"}, make_image(2), "At most two tags."),
        ({"rn": "0"}, make_image(2), "greater than or equal to 1"),
        ({"rn": "1001"}, make_image(2), "less than or equal to 1000"),
        ({"min_score": "2"}, make_image(2), "less than or equal to 1"),
        ({"url": "ftp://x/y.jpg"}, None, "282111"),
        ({"url": "http://127.0.0.1/y.jpg"}, None, "282113"),
    ],
)
def test_bad_queries_are_explained_beside_the_field(viewer, library, stored, fields, data, message):
    response = search(viewer, library, data, **fields)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert 'class="field-error"' in response.content.decode()


def test_a_backend_error_is_shown_with_its_explanation(viewer, library, stored, baidu, monkeypatch):
    monkeypatch.setitem(fakebaidu.ERRORS, 6, "No permission to access data")
    baidu.fail("same_hq", "search", 6)
    response = search(viewer, library, make_image(2))
    html = response.content.decode()
    assert response.status_code == 502
    assert "No permission to access data" in html and "Tick it in the application settings" in html


def test_search_with_a_stored_image(viewer, library, stored):
    url = reverse("gallery:search", args=[library.pk]) + f"?image_id={stored[2].pk}"
    assert hits(viewer.get(url))[0] == "1.0000"


def test_search_with_this_image_is_a_recorded_post(viewer, library, stored):
    response = search(viewer, library, follow=False, image_id=str(stored[2].pk))
    assert response.status_code == 302 and f"image_id={stored[2].pk}" in response["Location"]
    assert Activity.objects.filter(verb="library.search").count() == 1
    assert hits(viewer.get(response["Location"]))[0] == "1.0000"


def test_the_query_is_recorded_once_and_result_pages_record_nothing(viewer, library, stored):
    location = search(viewer, library, make_image(2), follow=False)["Location"]
    library.refresh_from_db()
    searched_at = library.last_activity_at
    assert searched_at is not None
    assert Activity.objects.filter(verb="library.search").count() == 1
    for _reload in range(2):
        assert hits(viewer.get(location))[0] == "1.0000"
    assert viewer.get(location + "&pn=1").status_code == 200
    assert Activity.objects.filter(verb="library.search").count() == 1
    library.refresh_from_db()
    assert library.last_activity_at == searched_at


def test_a_url_query_is_downloaded_by_the_search_service(viewer, library, stored, web):
    response = search(viewer, library, url=f"  {web}/cat.jpg ")
    assert WebHandler.seen == ["/cat.jpg"]
    assert response.status_code == 200 and response.context["outcome"] is not None


def test_paging_through_results(viewer, library, stored, baidu):
    page = search(viewer, library, make_image(2), rn="2")
    html = page.content.decode()
    assert len(hits(page)) == 3  # the fake ignores rn; paging links follow has_more
    assert 'rel="next"' not in html


def test_an_outsider_gets_404(client, personas, library):
    client.force_login(personas["outsider"])
    assert client.get(reverse("gallery:search", args=[library.pk])).status_code == 404
    assert search(client, library, make_image(2), follow=False).status_code == 404


def test_the_library_page_has_the_camera_box(viewer, library):
    html = viewer.get(reverse("gallery:library", args=[library.pk])).content.decode()
    assert "data-camera" in html and 'enctype="multipart/form-data"' in html
    assert 'name="image"' in html and 'name="url"' in html and "data-camera-webcam" in html
