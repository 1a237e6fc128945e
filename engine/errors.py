"""Wire errors the engine emits, with the exact messages of spec §8.1."""

from __future__ import annotations

MESSAGES: dict[int, str] = {
    2: "Service temporarily unavailable",
    3: "Unsupported openapi method",
    6: "No permission to access data",
    14: "IAM Certification failed",
    18: "Open api qps request limit reached",
    19: "Open api total request limit reached",
    100: "Invalid parameter",
    110: "Access token invalid or no longer valid",
    111: "Access token expired",
    216017: "not initialized",
    216100: "invalid param",
    216101: "not enough param",
    216200: "empty image",
    216201: "image format error",
    216202: "image size error",
    216203: "input image cannot handle",
    216680: "item not exist",
    216681: "item exist",
    282000: "internal error",
    282006: "batch task limit reached",
    282111: "url format illegal",
    282112: "url download timeout",
    282113: "url response invalid",
    282114: "url size error",
}

BRIEF_TOO_LONG = "brief too long"  # 216100 with its own message (spec §5.5)


class WireError(Exception):
    """A failed API call: answered as HTTP 200 `{log_id, error_code, error_msg}`."""

    def __init__(self, code: int, msg: str | None = None) -> None:
        self.code = code
        self.msg = msg if msg is not None else MESSAGES[code]
        super().__init__(f"{self.code} {self.msg}")
