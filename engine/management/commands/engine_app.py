"""Headless administration of built-in engine applications::

manage.py engine_app create --name X --services same_hq,similar [--qps N] [--signing-only]
manage.py engine_app list
manage.py engine_app update --app-id ID [--services ...] [--qps N] [--signing-only yes|no]
manage.py engine_app rotate-secret --app-id ID
manage.py engine_app delete --app-id ID
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from engine import services
from engine.errors import EngineInvalidError, EngineNotFoundError
from engine.models import EngineApp


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _yes_no(value: str) -> bool:
    if value.lower() not in ("yes", "no", "true", "false", "1", "0"):
        raise ValueError(value)
    return value.lower() in ("yes", "true", "1")


class Command(BaseCommand):
    help = "Create, list, update, rotate or delete built-in engine applications."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create")
        create.add_argument("--name", required=True)
        create.add_argument("--services", required=True, type=_split, help="comma-separated")
        # Unlimited by default, as the console's built-in applications: the engine's own CPU is
        # the limit; Baidu's tiers (10 paid, 2 free) can still be asked for.
        create.add_argument("--qps", type=int, default=0, help="0 = unlimited (the default)")
        create.add_argument("--signing-only", action="store_true")
        sub.add_parser("list")
        update = sub.add_parser("update")
        update.add_argument("--app-id", required=True)
        update.add_argument("--services", type=_split)
        update.add_argument("--qps", type=int)
        update.add_argument("--name")
        update.add_argument("--signing-only", type=_yes_no)
        for action in ("rotate-secret", "delete"):
            sub.add_parser(action).add_argument("--app-id", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        try:
            if action == "create":
                credentials = services.engine_app_create(
                    name=options["name"],
                    services=options["services"],
                    qps=options["qps"],
                    signing_only=options["signing_only"],
                )
                self.stdout.write(f"AppID:      {credentials.app_id}")
                self.stdout.write(f"API Key:    {credentials.api_key}")
                self.stdout.write(f"Secret Key: {credentials.secret_key}")
            elif action == "list":
                for app in EngineApp.objects.order_by("id"):
                    mode = " signing-only" if app.signing_only else ""
                    self.stdout.write(
                        f"{app.app_id}  {app.api_key}  qps={app.qps}{mode}  "
                        f"{','.join(app.services)}  {app.name}"
                    )
            elif action == "update":
                services.engine_app_update(
                    app_id=options["app_id"],
                    services=options["services"],
                    qps=options["qps"],
                    name=options["name"],
                    signing_only=options["signing_only"],
                )
                self.stdout.write("updated")
            elif action == "rotate-secret":
                secret = services.engine_app_rotate_secret(app_id=options["app_id"])
                self.stdout.write(f"Secret Key: {secret}")
            elif action == "delete":
                services.engine_app_delete(app_id=options["app_id"])
                self.stdout.write("deleted")
        except (EngineNotFoundError, EngineInvalidError) as exc:
            raise CommandError(str(exc)) from None
