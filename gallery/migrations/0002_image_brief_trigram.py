"""A trigram index for the listing's brief-substring filter, on PostgreSQL only.

`brief__icontains` becomes `UPPER(brief) LIKE UPPER('%...%')`; without this index a rare
substring reads every row of a library (0.5 s at 1,000,000 rows, bench/listing.py). SQLite has
no such index type and keeps the plain scan. pg_trgm is a trusted extension (PostgreSQL 13+):
the database owner may create it.
"""

from django.db import migrations

CREATE = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS image_brief_trgm ON gallery_image "
    "USING gin (UPPER(brief::text) gin_trgm_ops)",
]
DROP = ["DROP INDEX IF EXISTS image_brief_trgm"]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in CREATE:
            schema_editor.execute(statement)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in DROP:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("gallery", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
