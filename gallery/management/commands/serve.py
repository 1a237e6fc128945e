"""Run Tuku on one machine: the web server (console and engine) and a Celery worker with beat."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Migrate, then run the web server and a Celery worker until interrupted."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default=os.environ.get("TUKU_BIND", "127.0.0.1:8000"))
        parser.add_argument(
            "--workers",
            type=int,
            default=2,
            help="web server processes; they share the engine's index through the page cache",
        )
        parser.add_argument("--threads", type=int, default=8, help="threads per web process")
        parser.add_argument("--concurrency", type=int, default=2, help="worker processes")

    def handle(
        self,
        *args: Any,
        bind: str,
        workers: int,
        threads: int,
        concurrency: int,
        **options: Any,
    ) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        if not settings.DEBUG:
            call_command("collectstatic", interactive=False, verbosity=0)
        self._first_admin()
        python = sys.executable
        names = ["web server", "worker"]
        processes = [
            subprocess.Popen(
                [
                    python,
                    "-m",
                    "gunicorn",
                    "console.wsgi",
                    "--bind",
                    bind,
                    "--workers",
                    str(workers),
                    "--threads",
                    str(threads),
                    "--config",
                    str(settings.BASE_DIR / "gunicorn.conf.py"),
                    # gunicorn's default control socket is one path for every instance
                    "--control-socket",
                    str(settings.DATA_DIR / "gunicorn.ctl"),
                ]
            ),
            subprocess.Popen(
                [
                    python,
                    "-m",
                    "celery",
                    "-A",
                    "console",
                    "worker",
                    "--beat",
                    "--concurrency",
                    str(concurrency),
                    "--loglevel",
                    "INFO",
                    "--schedule",
                    settings.CELERY_BEAT_SCHEDULE_FILENAME,
                ]
            ),
        ]
        self.stdout.write(self.style.SUCCESS(f"Tuku is running on http://{bind}/ (Ctrl-C stops)"))
        stopping = False

        def stop(*_: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        # Run until told to stop or until either process dies: half a Tuku is worse than none.
        while not stopping and all(p.poll() is None for p in processes):
            time.sleep(0.5)
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        failed = [
            n
            for n, p in zip(names, processes, strict=True)
            if p.returncode not in (0, -signal.SIGTERM)
        ]
        if failed and not stopping:
            sys.exit(f"stopped because {failed[0]} exited")

    def _first_admin(self) -> None:
        users = get_user_model().objects
        if users.filter(is_superuser=True).exists():
            return
        name = os.environ.get("TUKU_ADMIN_USER", "")
        password = os.environ.get("TUKU_ADMIN_PASSWORD", "")
        if name and password:
            users.create_superuser(name, "", password)
            self.stdout.write(f"Created the administrator {name!r} from TUKU_ADMIN_USER.")
            return
        self.stdout.write(
            self.style.WARNING(
                "No administrator yet. Create one in another terminal with:\n"
                "    .venv/bin/python manage.py createsuperuser\n"
                "or start with TUKU_ADMIN_USER and TUKU_ADMIN_PASSWORD set.\n"
                "Teammates need no command: owners create their accounts on an "
                "application's page (Members)."
            )
        )
