"""The bad-input corpus (`tests/badinput.py`) through the console's uploads.

Each file through the upload page, a new batch with files and files posted into a running
batch: a refusal has the wire's code and a clear message on the upload line, and leaves no row
and no file; an accepted file is stored as the format it is and gets a thumbnail that shows it.
Briefs, file names, tags and class ids the way a careless or crafted client sends them are
refused beside the field or read as documented (docs/console.md, "Uploads").
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image as PILImage

from gallery import images
from gallery.models import Batch, Image, ImageStatus
from gallery.services import uploads
from tests.badinput import (
    FILES,
    INVALID_UTF8_RAW,
    NUMBERS,
    FileCase,
    NumberCase,
    picture,
)
from tests.unit.gallery.kit import files_under
from wire.baidu import SERVICES

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning"),
]

JPEG = picture(50)


@pytest.fixture
def editor(client, personas):
    client.force_login(personas["editor"])
    return client


def upload_file(case: FileCase) -> SimpleUploadedFile:
    return SimpleUploadedFile(case.filename, case.data, content_type="application/octet-stream")


def post(client, url: str, commit, data: dict[str, Any]) -> Any:
    with commit():
        return client.post(url, data, HTTP_ACCEPT="application/json")


def assert_line(line: dict[str, Any], case: FileCase) -> None:
    """The upload line of a refused file: the code, the words, the service's limits."""
    code = case.code("same_hq")
    assert line["ok"] is False and line["name"] == case.filename
    assert line["error"]["code"] == str(code)
    assert case.words in line["error"]["message"]
    if code in (216201, 216202):
        assert "PNG, JPEG or BMP" in line["error"]["explanation"]


def assert_stored(image: Image, case: FileCase) -> None:
    assert image.format == case.format and image.brief == case.filename
    assert image.status == ImageStatus.INDEXED
    assert image.original.read() == case.data
    thumbnail = PILImage.open(image.thumbnail)
    assert thumbnail.format == "JPEG" and max(thumbnail.size) == 320
    # It shows the picture: 16-bit samples clipped instead of scaled make it nearly all white.
    grey = np.asarray(thumbnail.convert("L"))
    assert float(grey.std()) > 10 and float(np.mean(grey >= 250)) < 0.5


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("case", FILES, ids=lambda case: case.name)
def test_the_console_refuses_with_the_code_the_wire_answers(case: FileCase, service: str) -> None:
    try:
        facts = images.inspect(case.data, service, thumbnail=True)
    except images.ImageInvalid as refused:
        assert refused.code == case.code(service), refused.message
    else:
        assert case.code(service) is None
        assert (facts.format, facts.bytes) == (case.format, len(case.data))


@pytest.mark.parametrize("case", FILES, ids=lambda case: case.name)
def test_every_file_through_the_upload_page(editor, library, commit, baidu, media, case):
    url = reverse("gallery:upload", args=[library.pk])
    lines = post(editor, url, commit, {"files": upload_file(case)}).json()["results"]
    if case.code("same_hq") is not None:
        assert_line(lines[0], case)
        assert not Image.objects.exists() and files_under(media) == []
        return
    assert lines[0]["ok"] is True, lines[0]
    assert_stored(Image.objects.get(pk=lines[0]["image"]["id"]), case)
    assert len(files_under(media)) == 2


@pytest.mark.parametrize("case", FILES, ids=lambda case: case.name)
def test_every_file_posted_into_a_running_batch(editor, library, commit, baidu, media, case):
    started = post(
        editor, reverse("gallery:batch-new", args=[library.pk]), commit, {"files_follow": "1"}
    ).json()
    lines = post(editor, started["files_url"], commit, {"files": upload_file(case)}).json()
    line = lines["results"][0]
    batch = Batch.objects.get(pk=started["id"])
    if case.code("same_hq") is not None:
        assert_line(line, case)
        assert [str(p["code"]) for p in batch.problems] == [str(case.code("same_hq"))]
        assert not Image.objects.exists() and files_under(media) == []
        return
    assert line["ok"] is True, line
    assert_stored(Image.objects.get(pk=line["image"]["id"], batch=batch), case)


@pytest.mark.parametrize("case", FILES, ids=lambda case: case.name)
def test_files_in_the_post_that_starts_a_batch(editor, library, commit, baidu, media, case):
    url = reverse("gallery:batch-new", args=[library.pk])
    started = post(editor, url, commit, {"files": upload_file(case)}).json()
    batch = Batch.objects.get(pk=started["id"])
    if case.code("same_hq") is not None:
        assert batch.problems[0]["code"] == case.code("same_hq")
        assert case.words in batch.problems[0]["message"]
        assert not Image.objects.exists() and files_under(media) == []
        page = editor.get(reverse("gallery:batch", args=[batch.pk])).content.decode()
        assert str(case.code("same_hq")) in page and case.filename in page
        return
    assert_stored(Image.objects.get(batch=batch), case)


# ------------------------------------------------------------------------------ tags, class ids


@pytest.mark.parametrize("case", NUMBERS, ids=lambda case: repr(case.text[:8]))
def test_tags_as_typed(editor, library, commit, baidu, media, case: NumberCase):
    url = reverse("gallery:upload", args=[library.pk])
    response = post(
        editor, url, commit, {"files": SimpleUploadedFile("a.jpg", JPEG), "tags": case.text}
    )
    if case.console is None:
        assert response.status_code == 400
        assert "tags" in response.json()["errors"]
        assert not Image.objects.exists() and files_under(media) == []
        return
    assert Image.objects.get().tags == [case.console]
    assert baidu.calls[-1][2]["tags"] == str(case.console)  # plain ASCII on the wire


@pytest.mark.parametrize("case", NUMBERS, ids=lambda case: repr(case.text[:8]))
def test_class_ids_as_typed_follow_the_tags_rule(
    editor, product_library, commit, baidu, media, case: NumberCase
):
    url = reverse("gallery:upload", args=[product_library.pk])
    files = SimpleUploadedFile("a.jpg", JPEG)
    response = post(editor, url, commit, {"files": files, "class_id1": case.text})
    if case.console is None:
        assert response.status_code == 400
        errors = response.json()["errors"]["class_id1"]
        assert errors[0]["message"] == "Class ids are whole numbers from 1 to 65535."
        assert not Image.objects.exists() and files_under(media) == []
        return
    assert Image.objects.get().class_id1 == case.console
    assert baidu.calls[-1][2]["class_id1"] == str(case.console)


def test_a_superscript_is_not_a_tag_in_words_on_every_form(editor, library, media):
    # "²" is a digit to str.isdigit() but not to int(): the forms once answered 500.
    url = reverse("gallery:upload", args=[library.pk])
    data = {"files": SimpleUploadedFile("a.jpg", JPEG), "tags": "\u00b2"}
    response = editor.post(url, data, HTTP_ACCEPT="application/json")
    message = response.json()["errors"]["tags"][0]["message"]
    assert message == "“²” is not a tag: tags are whole numbers from 1 to 65535."
    listing = editor.get(reverse("gallery:library", args=[library.pk]), {"tags": "\u00b2"})
    assert listing.status_code == 200 and "is not a tag" in listing.content.decode()
    search = editor.get(reverse("gallery:search", args=[library.pk]), {"tags": "\u00b2"})
    assert search.status_code == 200 and "is not a tag" in search.content.decode()
    assert not Image.objects.exists() and files_under(media) == []


def test_spaces_separate_tags_in_the_console(editor, library, commit, baidu):
    url = reverse("gallery:upload", args=[library.pk])
    post(editor, url, commit, {"files": SimpleUploadedFile("a.jpg", JPEG), "tags": "1 2"})
    assert Image.objects.get().tags == [1, 2]
    assert baidu.calls[-1][2]["tags"] == "1,2"


# ------------------------------------------------------------------------------ briefs, names


def multipart(parts: list[tuple[bytes, bytes | None, bytes]]) -> bytes:
    """A multipart body by hand, so that names and values can be any bytes at all."""
    out = b""
    for name, filename, value in parts:
        out += b'--b0undary\r\nContent-Disposition: form-data; name="' + name + b'"'
        if filename is not None:
            out += b"; " + filename + b"\r\nContent-Type: image/jpeg"
        out += b"\r\n\r\n" + value + b"\r\n"
    return out + b"--b0undary--\r\n"


def post_raw(client, library, commit, parts) -> Any:
    with commit():
        return client.post(
            reverse("gallery:upload", args=[library.pk]),
            multipart(parts),
            content_type="multipart/form-data; boundary=b0undary",
            HTTP_ACCEPT="application/json",
        )


@pytest.mark.parametrize("raw", INVALID_UTF8_RAW)
def test_a_brief_that_is_not_utf8_is_refused_beside_the_field(editor, library, commit, media, raw):
    parts = [(b"brief", None, b"photo " + raw), (b"files", b'filename="a.jpg"', JPEG)]
    response = post_raw(editor, library, commit, parts)
    assert response.status_code == 400
    assert "not sent as UTF-8" in response.json()["errors"]["brief"][0]["message"]
    assert not Image.objects.exists() and files_under(media) == []


@pytest.mark.parametrize("raw", INVALID_UTF8_RAW)
def test_a_file_name_that_is_not_utf8_loses_the_file_before_the_view(
    editor, library, commit, media, raw
):
    # Django drops a part whose header is not UTF-8; the page says what it then sees.
    parts = [(b"files", b'filename="' + raw + b'.jpg"', JPEG)]
    response = post_raw(editor, library, commit, parts)
    assert response.status_code == 400
    assert "Choose at least one file" in str(response.json()["errors"])
    assert not Image.objects.exists() and files_under(media) == []


def test_a_percent_encoded_file_name_that_is_not_utf8_leaves_no_mark_in_the_brief(
    editor, library, commit, baidu
):
    parts = [(b"files", b"filename*=UTF-8''caf%E9%FF.jpg", JPEG)]
    line = post_raw(editor, library, commit, parts).json()["results"][0]
    assert line["ok"] is True, line
    assert Image.objects.get().brief == "caf.jpg"


def test_a_file_name_of_nothing_readable_gets_the_default_brief(editor, library, commit, baidu):
    parts = [(b"files", b"filename*=UTF-8''%FF%FE", JPEG)]
    assert post_raw(editor, library, commit, parts).json()["results"][0]["ok"] is True
    assert Image.objects.get().brief == "image"


def test_a_brief_of_spaces_is_no_brief_on_upload(editor, library, commit, baidu, personas):
    url = reverse("gallery:upload", args=[library.pk])
    post(editor, url, commit, {"files": SimpleUploadedFile("Hafen.jpg", JPEG), "brief": "   "})
    assert Image.objects.get().brief == "Hafen.jpg"
    # The service reads it so too, for callers that do not go through the form.
    image = uploads.image_upload(
        actor=personas["editor"],
        library=library,
        data=picture(51),
        filename="Kai.jpg",
        brief=" \u3000 ",
    )
    assert image.brief == "Kai.jpg"


def test_a_batch_brief_of_spaces_is_no_brief(library, personas, commit, baidu):
    batch = uploads.batch_create(actor=personas["editor"], library=library, brief="   ")
    assert batch.brief == ""
    with commit():
        image = uploads.batch_add_files(batch=batch, files=[(JPEG, "Mole.jpg")])[0]
    assert isinstance(image, Image) and image.brief == "Mole.jpg"


@pytest.mark.parametrize("brief", ["   ", "\u3000", "\t\n", "bad \ufffd"])
def test_editing_a_brief_to_spaces_or_unreadable_text_is_refused(
    editor, library, commit, baidu, brief
):
    url = reverse("gallery:upload", args=[library.pk])
    image_id = post(editor, url, commit, {"files": SimpleUploadedFile("x.jpg", JPEG)}).json()[
        "results"
    ][0]["image"]["id"]
    response = editor.post(reverse("gallery:image-edit", args=[image_id]), {"brief": brief})
    assert response.status_code == 400
    expected = "A brief is required." if not brief.strip() else "not sent as UTF-8"
    assert expected in response.content.decode()
    assert Image.objects.get(pk=image_id).brief == "x.jpg"


def test_a_brief_with_a_null_character_is_refused_beside_the_field(editor, library, media):
    url = reverse("gallery:upload", args=[library.pk])
    data = {"files": SimpleUploadedFile("a.jpg", JPEG), "brief": "a\x00b"}
    response = editor.post(url, data, HTTP_ACCEPT="application/json")
    assert response.status_code == 400
    assert "Null characters are not allowed." in str(response.json()["errors"]["brief"])
    assert not Image.objects.exists() and files_under(media) == []


@pytest.mark.parametrize("stored", ["   ", "from the api \ufffd"])
def test_a_brief_an_api_client_stored_may_stay_while_the_tags_change(
    editor, library, commit, baidu, stored
):
    url = reverse("gallery:upload", args=[library.pk])
    image_id = post(editor, url, commit, {"files": SimpleUploadedFile("x.jpg", JPEG)}).json()[
        "results"
    ][0]["image"]["id"]
    Image.objects.filter(pk=image_id).update(brief=stored)
    with commit():
        response = editor.post(
            reverse("gallery:image-edit", args=[image_id]), {"brief": stored, "tags": "5"}
        )
    assert response.status_code == 302
    image = Image.objects.get(pk=image_id)
    assert (image.brief, image.tags) == (stored, [5])
