"""Helpers the console's unit tests share: uploads, logins, engine entries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from engine.models import EngineChange, EngineEntry, EngineEntryBlob, EngineLibrary
from gallery.services.applications import application_create
from gallery.services.libraries import library_create
from gallery.services.uploads import image_upload
from tests.conftest import make_image


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def upload_image(library, personas, seed=1, **kwargs):
    return image_upload(
        actor=personas["editor"],
        library=library,
        data=make_image(seed),
        filename=f"p{seed}.jpg",
        **kwargs,
    )


def login(client, personas, name):
    client.force_login(personas[name])
    return client


def jpeg(name, seed):
    return SimpleUploadedFile(name, make_image(seed), content_type="image/jpeg")


def start(client, library, commit, **data):
    with commit():
        return client.post(
            reverse("gallery:batch-new", args=[library.pk]), data, HTTP_ACCEPT="application/json"
        )


def upload_committed(library, personas, seed, commit):
    with commit():
        return image_upload(
            actor=personas["editor"], library=library, data=make_image(seed), filename=f"{seed}.jpg"
        )


def builtin(personas, service="same_hq"):
    app = application_create(
        actor=personas["owner"], name="Local", backend="builtin", services=[service], qps=0
    )
    library = library_create(actor=personas["owner"], application=app, service=service)
    return app, library


def engine_add(library, cont_sign, brief="from sdk", tags=(3,)):
    lib = EngineLibrary.objects.get(app__app_id=library.application.app_id, service=library.service)
    lib.seq += 1
    lib.entry_count += 1
    lib.save()
    entry = EngineEntry.objects.create(
        library=lib,
        cont_sign=cont_sign,
        brief=brief,
        tag1=tags[0] if tags else None,
        sha256=cont_sign.ljust(64, "0"),
        width=320,
        height=240,
        byte_size=1000,
        format="JPEG",
        vectors=np.zeros((1, 4), dtype=np.float32).tobytes(),
        features_version="test",
        seq=lib.seq,
    )
    EngineEntryBlob.objects.create(entry=entry, thumbnail=make_image(9, size=(160, 120)))
    EngineChange.objects.create(library=lib, seq=lib.seq, op=EngineChange.ADD, entry_id=entry.pk)
    return entry


def engine_delete(entry):
    lib = entry.library
    lib.seq += 1
    lib.save()
    EngineChange.objects.create(library=lib, seq=lib.seq, op=EngineChange.DELETE, entry_id=entry.pk)
    entry.delete()
