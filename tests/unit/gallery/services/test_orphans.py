"""gallery.services.orphans: files no row names are removed once old enough."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from gallery.models import Image, Library
from gallery.services import uploads
from gallery.services.images import images_delete
from gallery.services.orphans import orphan_files_sweep, orphan_files_sweep_task
from tests.unit.gallery.kit import upload_image

pytestmark = pytest.mark.django_db


def stored(media, *names):
    return {n for n in names if (media / n).exists()}


def age(media, name, seconds):
    then = time.time() - seconds
    os.utime(media / name, (then, then))


def all_files(media):
    return sorted(str(p.relative_to(media)) for p in media.rglob("*") if p.is_file())


def test_files_of_rows_are_kept(library, personas, baidu, media):
    image = upload_image(library, personas)
    for name in (image.original.name, image.thumbnail.name):
        age(media, name, 7200)
    assert orphan_files_sweep(older_than=timedelta(0)) == 0
    assert stored(media, image.original.name, image.thumbnail.name) == {
        image.original.name,
        image.thumbnail.name,
    }


def test_an_upload_killed_before_its_row_commits_leaves_files_the_sweep_removes(
    library, personas, baidu, media, monkeypatch
):
    # What kill -9 does between storing the files and committing the row: no cleanup runs.
    monkeypatch.setattr(uploads, "remove_files", lambda *names: None)

    def killed(*args, **kwargs):
        raise SystemExit("killed")

    monkeypatch.setattr(Image, "save", killed)
    with pytest.raises(SystemExit):
        upload_image(library, personas)
    monkeypatch.undo()
    left = all_files(media)
    assert len(left) == 2 and not Image.objects.exists()

    assert orphan_files_sweep() == 0  # younger than ORPHAN_AGE_SECONDS: maybe still at work
    for name in left:
        age(media, name, 3601)
    assert orphan_files_sweep_task.delay().get() == 2
    assert all_files(media) == []


def test_files_left_by_an_interrupted_delete_are_removed(library, personas, baidu, media):
    kept = upload_image(library, personas, seed=1)
    gone = upload_image(library, personas, seed=2)
    names = [gone.original.name, gone.thumbnail.name]
    images_delete(actor=personas["editor"], images=[gone])
    gone.refresh_from_db()
    assert gone.original.name == ""
    # The files go once the tombstone commits, which this test's transaction never does: as if
    # the process had died in between.
    assert stored(media, *names) == set(names)
    for name in names:
        age(media, name, 7200)
    assert orphan_files_sweep(older_than=timedelta(0)) == 2
    assert stored(media, *names) == set()
    assert stored(media, kept.original.name) == {kept.original.name}


def test_a_deleted_librarys_folder_is_emptied_and_foreign_folders_are_left(
    library, personas, baidu, media
):
    image = upload_image(library, personas)
    names = [image.original.name, image.thumbnail.name]
    Image.objects.all().delete()
    Library.objects.all().delete()
    default_storage.save("originals/notes/readme.txt", ContentFile(b"ours, not the sweep's"))
    for name in names:
        age(media, name, 7200)
    assert orphan_files_sweep(older_than=timedelta(0)) == 2
    assert all_files(media) == ["originals/notes/readme.txt"]
