"""gallery.models: what the database itself refuses, and secrets at rest."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from gallery.models import Image, Library

pytestmark = pytest.mark.django_db


def test_secret_keys_are_encrypted_at_rest(application):
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret_key FROM gallery_application WHERE id = %s", [application.pk])
        stored = cursor.fetchone()[0]
    assert application.secret_key not in stored
    application.refresh_from_db()
    assert application.secret_key == "baidu-secret-key"


@pytest.mark.parametrize(
    ("field", "value"), [("tag1", 0), ("tag1", 65536), ("class_id2", 70000), ("status", "gone")]
)
def test_the_database_refuses_out_of_range_rows(library, field, value):
    row = Image(
        library=library,
        sha256="0" * 64,
        width=1,
        height=1,
        bytes=1,
        format="PNG",
        brief="b",
        **{field: value},
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        row.save()


def test_cont_sign_is_unique_among_live_rows_only(library):
    def row(status: str) -> Image:
        return Image.objects.create(
            library=library,
            sha256="0" * 64,
            width=1,
            height=1,
            bytes=1,
            format="PNG",
            brief="b",
            cont_sign="1,2",
            status=status,
        )

    row("deleted")
    row("indexed")
    with pytest.raises(IntegrityError), transaction.atomic():
        row("indexed")


def test_an_indexed_row_must_have_a_cont_sign(library):
    with pytest.raises(IntegrityError), transaction.atomic():
        Image.objects.create(
            library=library,
            sha256="0" * 64,
            width=1,
            height=1,
            bytes=1,
            format="PNG",
            brief="b",
            status="indexed",
        )


def test_one_library_per_service(application):
    Library.objects.create(application=application, service="similar")
    with pytest.raises(IntegrityError), transaction.atomic():
        Library.objects.create(application=application, service="similar")
