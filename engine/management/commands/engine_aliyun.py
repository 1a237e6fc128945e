"""Headless administration of the Alibaba wire (aliyun-wire §4.1)::

manage.py engine_aliyun create-key --name X
manage.py engine_aliyun create-instance --access-key-id ID --name N --service-type 0|1|2
                                        [--capacity IMAGES] [--qps 1|5|10]
manage.py engine_aliyun list
manage.py engine_aliyun delete-instance --access-key-id ID --name N
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from engine.aliyun import services
from engine.errors import EngineInvalidError, EngineNotFoundError
from engine.models import AliyunInstance
from wire.aliyun import CAPACITY_UNIT


class Command(BaseCommand):
    help = "Create AccessKey pairs and instances of the Alibaba wire, list or delete them."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("create-key").add_argument("--name", required=True)
        create = sub.add_parser("create-instance")
        create.add_argument("--access-key-id", required=True)
        create.add_argument("--name", required=True)
        create.add_argument("--service-type", required=True, type=int)
        create.add_argument("--capacity", type=int, default=CAPACITY_UNIT, help="images")
        create.add_argument("--qps", type=int, default=10)
        sub.add_parser("list")
        delete = sub.add_parser("delete-instance")
        delete.add_argument("--access-key-id", required=True)
        delete.add_argument("--name", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        try:
            if action == "create-key":
                key = services.access_key_create(name=options["name"])
                self.stdout.write(f"AccessKey ID:     {key.access_key_id}")
                self.stdout.write(f"AccessKey Secret: {key.access_key_secret}")
            elif action == "create-instance":
                instance = services.instance_create(
                    access_key_id=options["access_key_id"],
                    name=options["name"],
                    service_type=options["service_type"],
                    capacity=options["capacity"],
                    qps=options["qps"],
                )
                self.stdout.write(f"instance {instance.name} created")
            elif action == "list":
                rows = AliyunInstance.objects.select_related("owner", "library").order_by("id")
                for row in rows:
                    self.stdout.write(
                        f"{row.owner.api_key}  {row.name}  type={row.service_type}  "
                        f"qps={row.qps}  {row.library.entry_count}/{row.library.capacity}"
                    )
            elif action == "delete-instance":
                services.instance_delete(
                    access_key_id=options["access_key_id"], name=options["name"]
                )
                self.stdout.write("deleted")
        except (EngineNotFoundError, EngineInvalidError) as exc:
            raise CommandError(str(exc)) from None
