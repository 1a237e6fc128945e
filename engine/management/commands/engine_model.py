"""Export the embedding model into the data directory once (install time), so no request waits."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from engine.embedder import ensure_model


class Command(BaseCommand):
    help = "Export the engine's embedding model to ONNX under the data directory, if missing."

    def handle(self, *args: Any, **options: Any) -> None:
        path = ensure_model(settings.DATA_DIR)
        self.stdout.write(f"model ready: {path}")
