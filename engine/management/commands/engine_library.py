"""Headless administration of built-in engine libraries::

manage.py engine_library create --app-id ID --service S [--capacity N]
manage.py engine_library set-capacity --app-id ID --service S --capacity N
manage.py engine_library stats|clear|delete --app-id ID --service S
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from engine import selectors, services
from engine.errors import EngineInvalidError, EngineNotFoundError
from engine.models import DEFAULT_CAPACITY
from wire.baidu import SERVICES


class Command(BaseCommand):
    help = "Create, resize, inspect, clear or delete built-in engine libraries."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        for action in ("create", "set-capacity", "stats", "clear", "delete"):
            command = sub.add_parser(action)
            command.add_argument("--app-id", required=True)
            command.add_argument("--service", required=True, choices=SERVICES)
            if action == "create":
                command.add_argument("--capacity", type=int, default=DEFAULT_CAPACITY)
            if action == "set-capacity":
                command.add_argument("--capacity", type=int, required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        action, app_id, service = options["action"], options["app_id"], options["service"]
        try:
            if action == "create":
                stats = services.engine_library_create(
                    app_id=app_id, service=service, capacity=options["capacity"]
                )
            elif action == "set-capacity":
                stats = services.engine_library_set_capacity(
                    app_id=app_id, service=service, capacity=options["capacity"]
                )
            elif action == "clear":
                removed = services.engine_library_clear(app_id=app_id, service=service)
                self.stdout.write(f"removed {removed} images")
                return
            elif action == "delete":
                services.engine_library_delete(app_id=app_id, service=service)
                self.stdout.write("deleted")
                return
            else:
                stats = selectors.engine_library_stats(app_id=app_id, service=service)
            self.stdout.write(f"{app_id}/{service}: {stats.count} / {stats.capacity} images")
        except (EngineNotFoundError, EngineInvalidError) as exc:
            raise CommandError(str(exc)) from None
