"""The engine's exceptions: wire errors it answers with, and refusals of the console's calls.

Wire errors carry the exact messages of baidu-wire §8.1 (``wire.baidu.MESSAGES``).
"""

from __future__ import annotations

from wire.baidu import MESSAGES


class WireError(Exception):
    """A failed API call: answered as HTTP 200 `{log_id, error_code, error_msg}`."""

    def __init__(self, code: int, msg: str | None = None) -> None:
        self.code = code
        self.msg = msg if msg is not None else MESSAGES[code]
        super().__init__(f"{self.code} {self.msg}")


class EngineNotFoundError(LookupError):
    """No such application or library (in-process administration and reads)."""


class EngineInvalidError(ValueError):
    """An argument the engine cannot accept (unknown service, negative QPS, ...)."""
