"""Prepare the shared indexes ahead of traffic::

    manage.py engine_index rebuild [--app-id ID] [--service S]
    manage.py engine_index build [--app-id ID] [--service S] [--any-size]

``rebuild`` writes a new generation of each library's index from the database into
DATA_DIR/engine/index/ (every engine process of the machine maps it); ``build`` catches each
index up and builds its approximate graph now, in the foreground with every core, instead of
leaving it to the low-priority background build the first large search starts. Neither is
ever needed for correctness: the files are derived, and a stale or foreign one is rebuilt.
"""

from __future__ import annotations

import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from engine import ann, index
from engine.models import EngineLibrary
from wire.baidu import SERVICES


class Command(BaseCommand):
    help = "Rebuild the engine's shared indexes from the database, or build their graphs."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        rebuild = sub.add_parser("rebuild", help="write a new index generation from the store")
        build = sub.add_parser("build", help="build and save the approximate graphs now")
        build.add_argument(
            "--any-size",
            action="store_true",
            help=f"also libraries below {ann.ANN_MIN_ROWS:,} vector rows (which never use one)",
        )
        for action in (rebuild, build):
            action.add_argument("--app-id")
            action.add_argument("--service", choices=SERVICES)

    def handle(self, *args: Any, **options: Any) -> None:
        libraries = EngineLibrary.objects.select_related("app").order_by("id")
        if options["app_id"]:
            libraries = libraries.filter(app__app_id=options["app_id"])
        if options["service"]:
            libraries = libraries.filter(service=options["service"])
        if not libraries:
            raise CommandError("no such library")
        if options["action"] == "build" and ann.ann_library() is None:
            raise CommandError("faiss is not installed: there is no approximate path to build")
        for library in libraries:
            started = time.monotonic()
            built = index.LibraryIndex(library.pk, str(library.uid))
            if options["action"] == "rebuild":
                built.rebuild()
                self.stdout.write(
                    f"{library}: {len(built)} entries at seq "
                    f"{built.seq} in {time.monotonic() - started:.1f}s"
                )
                continue
            built.sync(library.seq)
            rows = built.rows
            if rows < ann.ANN_MIN_ROWS and not options["any_size"]:
                self.stdout.write(f"{library}: {rows} rows, below {ann.ANN_MIN_ROWS:,}: no graph")
                continue
            graph = built.build_graph()
            took = time.monotonic() - started
            self.stdout.write(
                f"{library}: graph of {graph.rows} rows in {took:.1f}s"
                if graph is not None
                else f"{library}: no rows to build a graph of"
            )
