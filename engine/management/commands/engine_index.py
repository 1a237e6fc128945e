"""Build the in-memory indexes ahead of traffic and write their snapshots::

    manage.py engine_index rebuild [--app-id ID --service S]

Snapshots under DATA_DIR/engine/index/ only speed up the next start of every engine process;
they are never the source of truth (a stale or foreign snapshot is ignored and rebuilt).
"""

from __future__ import annotations

import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from engine import index
from engine.models import EngineLibrary
from wire.baidu import SERVICES


class Command(BaseCommand):
    help = "Rebuild engine indexes from the database and snapshot them to the data directory."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        rebuild = sub.add_parser("rebuild")
        rebuild.add_argument("--app-id")
        rebuild.add_argument("--service", choices=SERVICES)

    def handle(self, *args: Any, **options: Any) -> None:
        libraries = EngineLibrary.objects.select_related("app").order_by("id")
        if options["app_id"]:
            libraries = libraries.filter(app__app_id=options["app_id"])
        if options["service"]:
            libraries = libraries.filter(service=options["service"])
        if not libraries:
            raise CommandError("no such library")
        for library in libraries:
            started = time.monotonic()
            built = index.LibraryIndex(library.pk, str(library.uid))
            built.rebuild()
            built.save_snapshot()
            self.stdout.write(
                f"{library}: {len(built)} entries at seq "
                f"{built.seq} in {time.monotonic() - started:.1f}s"
            )
