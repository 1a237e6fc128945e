"""Export the embedding model once (install time), so no request waits for it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from engine.features.embedder import ensure_head, ensure_model


class Command(BaseCommand):
    help = (
        "Export the engine's embedding model to ONNX, and its ImageNet classifier head to "
        "an .npz beside it, under ENGINE_MODEL_DIR, if missing."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        model_dir = Path(settings.ENGINE_MODEL_DIR)
        self.stdout.write(f"model ready: {ensure_model(model_dir)}")
        self.stdout.write(f"classifier head ready: {ensure_head(model_dir)}")
