"""Small files that several engine processes read while one rewrites them."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any


def write_json(path: Path, value: dict[str, Any], *, durable: bool = False) -> None:
    """Replace a small file atomically: readers see the old one or the new one, whole.
    `durable`: on disk before it is renamed into place, so a crash cannot leave it empty."""
    scratch = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    with scratch.open("w") as handle:
        json.dump(value, handle)
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
    scratch.replace(path)
