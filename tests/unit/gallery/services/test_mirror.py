"""gallery.services.mirror: images added through the wire API of a built-in library."""

from __future__ import annotations

import pytest
from django.urls import reverse

from engine import store
from engine.models import EngineEntry, EngineLibrary
from gallery.models import Activity, Image, ImageStatus
from gallery.services.mirror import library_mirror_run
from gallery.services.uploads import image_upload
from tests.conftest import make_image
from tests.unit.gallery.kit import builtin, engine_add, engine_delete, login, upload_committed

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


def delete_behind_our_back(row):
    """Another client deletes the image through the wire (the engine's own delete)."""
    engine_library = EngineLibrary.objects.get(
        app__app_id=row.library.application.app_id, service=row.library.service
    )
    assert store.entries_delete(library=engine_library, cont_signs=[row.cont_sign]) == 1


def test_an_image_deleted_elsewhere_keeps_its_original_and_can_be_pushed_again(
    client, personas, commit, media, baidu_engine
):
    _app, library = builtin(personas)
    row = upload_committed(library, personas, 1, commit)
    row.refresh_from_db()
    assert row.status == ImageStatus.INDEXED
    delete_behind_our_back(row)
    login(client, personas, "owner")
    with commit():
        client.get(reverse("gallery:library", args=[library.pk]))  # the mirror runs
    row.refresh_from_db()
    assert row.status == ImageStatus.FAILED and row.error_code == "216680"
    assert row.cont_sign is None and (media / row.original.name).is_file()
    assert Activity.objects.filter(verb="image.gone", object_id=row.pk).exists()
    assert Activity.objects.get(verb="library.mirror").detail == {"added": 0, "removed": 1}
    page = client.get(reverse("gallery:image", args=[row.pk])).content.decode()
    assert (
        "no longer in the library" in page
        and reverse("gallery:image-repush", args=[row.pk]) in page
    )
    with commit():
        client.post(reverse("gallery:image-repush", args=[row.pk]))
    row.refresh_from_db()
    assert row.status == ImageStatus.INDEXED and row.cont_sign


def test_an_edit_of_an_image_deleted_elsewhere_is_kept_for_the_push_again(
    client, personas, commit, media, baidu_engine
):
    _app, library = builtin(personas)
    row = upload_committed(library, personas, 2, commit)
    row.refresh_from_db()
    delete_behind_our_back(row)
    login(client, personas, "owner")
    with commit():
        client.post(
            reverse("gallery:image-edit", args=[row.pk]), {"brief": "new words", "tags": "9"}
        )
    row.refresh_from_db()
    assert row.status == ImageStatus.FAILED and row.error_code == "216680"
    assert (row.brief, row.tags, row.pending_update) == ("new words", [9], None)
    assert (media / row.original.name).is_file()
    assert Activity.objects.filter(verb="image.gone", object_id=row.pk).exists()
    with commit():
        client.post(reverse("gallery:image-repush", args=[row.pk]))
    row.refresh_from_db()
    entry = EngineEntry.objects.get(cont_sign=row.cont_sign)
    assert row.status == ImageStatus.INDEXED and (entry.brief, entry.tag1) == ("new words", 9)
