"""gallery.services.mirror: images added through the wire API of a built-in library."""

from __future__ import annotations

import pytest
from django.urls import reverse

from engine.models import EngineEntry
from gallery.models import Image, ImageStatus
from gallery.services.mirror import library_mirror_run
from gallery.services.uploads import image_upload
from tests.conftest import make_image
from tests.unit.gallery.kit import builtin, engine_add, engine_delete, login

pytestmark = pytest.mark.django_db


def test_images_added_through_the_api_appear_in_the_listing_at_once(client, personas):
    _app, library = builtin(personas)
    entry = engine_add(library, "123,456")
    login(client, personas, "owner")
    page = client.get(reverse("gallery:library", args=[library.pk])).content.decode()
    row = Image.objects.get(library=library)
    assert row.source_kind == "api" and row.status == "indexed" and row.cont_sign == "123,456"
    assert row.brief == "from sdk" and row.tags == [3] and not row.original
    assert "from sdk" in page
    thumb = client.get(reverse("gallery:image-thumbnail", args=[row.pk]))
    assert thumb.status_code == 200
    preview = client.get(reverse("gallery:image", args=[row.pk])).content.decode()
    assert "no original kept" in preview
    library.refresh_from_db()
    assert library.engine_seq == 1
    # Nothing new: nothing changes; then a deletion through the API makes a tombstone.
    assert library_mirror_run(library_id=library.pk) == {"added": 0, "removed": 0}
    engine_delete(entry)
    client.get(reverse("gallery:library", args=[library.pk]))
    row.refresh_from_db()
    assert row.status == ImageStatus.DELETED and not row.thumbnail


def test_our_own_add_in_flight_is_not_mirrored_twice(personas):
    _app, library = builtin(personas)
    row = image_upload(
        actor=personas["editor"], library=library, data=make_image(1), filename="1.jpg"
    )  # pending: its task has not stored the cont_sign yet
    entry = engine_add(library, "9,9")
    EngineEntry.objects.filter(pk=entry.pk).update(sha256=row.sha256)
    assert library_mirror_run(library_id=library.pk)["added"] == 0
    assert Image.objects.filter(library=library).count() == 1


def test_baidu_libraries_are_not_synced(library):
    assert library_mirror_run(library_id=library.pk) == {"added": 0, "removed": 0}
