"""The bad-input corpus (`tests/badinput.py`) through the wire.

Every file on add and search of every service gets the documented code and message (baidu-wire
§5.1, §5.3, §8.1), and a refused add leaves nothing in the store; a number in any other form
than plain ASCII decimal and bytes that are not UTF-8 are 216100 (§3.1, §5.6, §5.7); a brief of
spaces is a brief (§5.5).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import numpy as np
import pytest

from engine.features.decode import decode
from engine.models import EngineChange, EngineEntry, EngineEntryBlob, EngineLibrary
from tests.badinput import (
    INVALID_UTF8,
    INVALID_UTF8_RAW,
    NUMBERS,
    FileCase,
    NumberCase,
    on_services,
    picture,
    png16,
    wide,
)

from .enginekit import PATHS, App, assert_error, b64

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning"),
]

IMAGE = picture(40)


def store_state(app: App) -> tuple[Any, ...]:
    """Everything an add writes: entries, their blobs, the change log, counters."""
    libraries = EngineLibrary.objects.filter(app__app_id=app.app_id)
    return (
        EngineEntry.objects.filter(library__in=libraries).count(),
        EngineEntryBlob.objects.filter(entry__library__in=libraries).count(),
        EngineChange.objects.filter(library__in=libraries).count(),
        sorted(libraries.values_list("service", "seq", "entry_count")),
    )


def form(**fields: str) -> str:
    """A form body with every value percent-encoded, as the SDKs send it."""
    return "&".join(f"{key}={quote(value, safe='')}" for key, value in fields.items())


@pytest.mark.parametrize(
    ("case", "service"),
    on_services(),
    ids=[f"{case.name}-{service}" for case, service in on_services()],
)
def test_every_file_on_add_and_search(app: App, case: FileCase, service: str) -> None:
    before = store_state(app)
    added = app.call(service, "add", {"image": b64(case.data), "brief": case.filename})
    searched = app.call(service, "search", {"image": b64(case.data)})
    code = case.code(service)
    if code is not None:
        assert_error(added, code, case.message(service))
        assert_error(searched, code, case.message(service))
        assert store_state(app) == before
        return
    assert set(added) == {"log_id", "cont_sign"}, added
    entry = EngineEntry.objects.get(library__service=service, cont_sign=added["cont_sign"])
    assert (entry.format, entry.brief) == (case.format, case.filename)
    # The decoded picture is the one the file shows: the same bytes find it first (§7.2).
    assert searched["result"][0] == {
        "cont_sign": added["cont_sign"],
        "score": 1.0,
        "brief": case.filename,
    }


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_16_bit_samples_are_scaled_to_8_bits(channels: int) -> None:
    samples = wide(2, channels=channels)
    rgb = decode(png16(samples)).rgb
    expected = (samples >> 8).astype(np.uint8)
    if channels == 1:
        expected = np.repeat(expected[..., None], 3, axis=2)
    assert np.array_equal(rgb, expected[..., :3])


# ------------------------------------------------------------------------------ fields


# (service, field sent on add, field sent on search, how to read the stored value)
LABEL_FIELDS = {
    "tags": ("similar", "tags", "tags", lambda entry: entry.tags),
    "class_ids": ("product", "class_id1", "class_id2", lambda entry: (entry.class_id1,)),
}


@pytest.mark.parametrize("case", NUMBERS, ids=lambda case: repr(case.text[:8]))
@pytest.mark.parametrize("kind", LABEL_FIELDS)
def test_labels_are_plain_ascii_decimal(app: App, case: NumberCase, kind: str) -> None:
    service, add_field, search_field, stored = LABEL_FIELDS[kind]
    before = store_state(app)
    added = app.call(service, "add", form(image=b64(IMAGE), brief="x", **{add_field: case.text}))
    searched = app.call(service, "search", form(image=b64(IMAGE), **{search_field: case.text}))
    if case.wire is None:
        assert_error(added, 216100, "invalid param")
        assert_error(searched, 216100, "invalid param")
        assert store_state(app) == before
        return
    assert stored(EngineEntry.objects.get(cont_sign=added["cont_sign"])) == (case.wire,)
    assert "result" in searched


@pytest.mark.parametrize("value", ["1 2", "1;2", "   ", "7,", ",7", "\u00a0"])
def test_other_tag_spellings_are_216100(app: App, value: str) -> None:
    body = app.call("similar", "add", form(image=b64(IMAGE), brief="x", tags=value))
    assert_error(body, 216100, "invalid param")


@pytest.mark.parametrize("encoded", INVALID_UTF8)
@pytest.mark.parametrize("field", ["brief", "tags"])
def test_percent_encoded_invalid_utf8_is_216100(app: App, encoded: str, field: str) -> None:
    image = quote(b64(IMAGE), safe="")
    before = store_state(app)
    fields = {"brief": "x", "tags": "1", field: encoded}
    body = f"image={image}&brief={fields['brief']}&tags={fields['tags']}"
    assert_error(app.call("similar", "add", body), 216100, "invalid param")
    assert store_state(app) == before
    if field == "tags":
        search = f"image={image}&tags={encoded}"
        assert_error(app.call("similar", "search", search), 216100, "invalid param")


def test_a_nul_in_a_brief_is_216100(app: App) -> None:
    before = store_state(app)
    body = app.call("similar", "add", f"image={quote(b64(IMAGE), safe='')}&brief=a%00b")
    assert_error(body, 216100, "invalid param")
    assert store_state(app) == before


def test_invalid_utf8_on_update_changes_nothing(app: App) -> None:
    added = app.call("similar", "add", {"image": b64(IMAGE), "brief": "kept"})
    for encoded in INVALID_UTF8:
        body = f"cont_sign={added['cont_sign']}&brief={encoded}"
        assert_error(app.call("similar", "update", body), 216100, "invalid param")
    assert EngineEntry.objects.get(cont_sign=added["cont_sign"]).brief == "kept"


def test_an_image_value_that_is_not_utf8_is_216201(app: App) -> None:
    for encoded in INVALID_UTF8:
        body = app.call("similar", "search", f"image={encoded}")
        assert_error(body, 216201, "image format error")


def multipart(fields: list[tuple[bytes, bytes]], boundary: bytes = b"b0undary") -> bytes:
    out = b""
    for name, value in fields:
        out += b"--" + boundary + b'\r\nContent-Disposition: form-data; name="' + name
        out += b'"\r\n\r\n' + value + b"\r\n"
    return out + b"--" + boundary + b"--\r\n"


@pytest.mark.parametrize("raw", INVALID_UTF8_RAW)
def test_raw_invalid_utf8_in_a_multipart_field_is_216100(app: App, raw: bytes) -> None:
    before = store_state(app)
    body = multipart([(b"image", b64(IMAGE).encode()), (b"brief", b"photo " + raw)])
    response = app.client.post(
        PATHS["similar"].format(op="add") + f"?access_token={app.token}",
        body,
        content_type="multipart/form-data; boundary=b0undary",
    )
    assert_error(response.json(), 216100, "invalid param")
    assert store_state(app) == before


@pytest.mark.parametrize("brief", ["   ", " ", "\u3000", "\t"])
def test_a_brief_of_spaces_is_a_brief_kept_as_sent(app: App, brief: str) -> None:
    added = app.call("similar", "add", form(image=b64(IMAGE), brief=brief))
    assert EngineEntry.objects.get(cont_sign=added["cont_sign"]).brief == brief
    app.call("similar", "update", form(cont_sign=added["cont_sign"], brief="  x  "))
    assert EngineEntry.objects.get(cont_sign=added["cont_sign"]).brief == "  x  "
    hit = app.call("similar", "search", {"image": b64(IMAGE)})["result"][0]
    assert hit["brief"] == "  x  "


@pytest.mark.parametrize("field", ["pn", "rn"])
def test_paging_numbers_of_thousands_of_digits_are_216100(app: App, field: str) -> None:
    body = app.call("similar", "search", form(image=b64(IMAGE), **{field: "9" * 5000}))
    assert_error(body, 216100, "invalid param")
    zero_padded = app.call("similar", "search", form(image=b64(IMAGE), **{field: "0" * 5000 + "5"}))
    assert "result" in zero_padded, zero_padded
