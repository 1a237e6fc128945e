"""Request parameters: query and form body merged, and the field rules of aliyun-wire §4, §5."""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import parse_qsl

from engine.aliyun.errors import AliyunError
from wire.aliyun import (
    CATEGORIES,
    DEFAULT_NUM,
    MAX_CUSTOM_CONTENT,
    MAX_ID,
    MAX_INSTANCE_NAME,
    MAX_NUM,
    MAX_PIC_BYTES,
    MAX_RESULTS,
    SCORE_THRESHOLD,
    str_attr_valid,
)

_INTEGER = re.compile(r"-?[0-9]{1,10}\Z")
_INT32 = range(-(2**31), 2**31)
_BASE64 = re.compile(r"[A-Za-z0-9+/\r\n]*={0,2}\Z")


def form_pairs(content_type: str, body: bytes) -> list[tuple[str, str]]:
    """The form body's pairs; a body that is not UTF-8 is BadRequest."""
    if not body or not content_type.lower().startswith("application/x-www-form-urlencoded"):
        return []
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise AliyunError("BadRequest") from None


class Params:
    """Merged parameters; empty values count as absent, like the SDK that never sends None."""

    def __init__(self, *sources: list[tuple[str, str]]) -> None:
        self._values = {key: value for pairs in sources for key, value in pairs if value != ""}

    def get(self, name: str) -> str | None:
        return self._values.get(name)

    def required(self, name: str) -> str:
        value = self._values.get(name)
        if value is None:
            raise AliyunError("BadRequest")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self._values.get(name)
        if value is None:
            return default
        if value.lower() not in ("true", "false"):
            raise AliyunError("BadRequest")
        return value.lower() == "true"

    def instance_name(self) -> str:
        name = self.required("InstanceName")
        if len(name) > MAX_INSTANCE_NAME:
            raise AliyunError("InvalidInstance")
        return name

    def identifier(self, name: str) -> str | None:
        """ProductId or PicName, None when absent."""
        value = self.get(name)
        if value is not None and len(value) > MAX_ID:
            raise AliyunError("BadRequest")
        return value

    def required_identifier(self, name: str) -> str:
        value = self.identifier(name)
        if value is None:
            raise AliyunError("BadRequest")
        return value

    def int_attr(self, name: str) -> int | None:
        value = self.get(name)
        if value is None:
            return None
        if not _INTEGER.match(value) or int(value) not in _INT32:
            raise AliyunError("BadRequest")
        return int(value)

    def str_attr(self, name: str) -> str | None:
        value = self.get(name)
        if value is not None and not str_attr_valid(value):
            raise AliyunError("BadRequest")
        return value

    def custom_content(self) -> str | None:
        value = self.get("CustomContent")
        if value is not None and len(value) > MAX_CUSTOM_CONTENT:
            raise AliyunError("BadRequest")
        return value

    def category(self) -> int | None:
        value = self.get("CategoryId")
        if value is None:
            return None
        if not _INTEGER.match(value) or int(value) not in CATEGORIES:
            raise AliyunError("InvalidCategory")
        return int(value)

    def window(self) -> tuple[int, int]:
        """(Start, Num) with the checks of aliyun-wire §5.1, Num's first."""
        num_text, start_text = self.get("Num"), self.get("Start")
        num = DEFAULT_NUM
        if num_text is not None:
            if not _INTEGER.match(num_text):
                raise AliyunError("InvalidNumParameter")
            num = int(num_text)
            if num > MAX_NUM:
                raise AliyunError("OverflowMaxReturnNum")
            if num < 1:
                raise AliyunError("InvalidNumParameter")
        start = 0
        if start_text is not None:
            if not _INTEGER.match(start_text) or not 0 <= int(start_text) < MAX_RESULTS:
                raise AliyunError("BadRequest")
            start = int(start_text)
        if start + num > MAX_RESULTS:
            raise AliyunError("OverflowMaxResultNum")
        return start, num

    def score_threshold(self) -> float:
        value = self.get("ScoreThreshold")
        if value is None:
            return 0.0
        if not SCORE_THRESHOLD.match(value):
            raise AliyunError("BadRequest")
        return float(value)

    def region(self) -> tuple[int, int, int, int] | None:
        """`x1,x2,y1,y2` as sent; checked against the image by the caller."""
        value = self.get("Region")
        if value is None:
            return None
        parts = value.split(",")
        if len(parts) != 4 or not all(re.fullmatch(r"[0-9]{1,5}", p.strip()) for p in parts):
            raise AliyunError("BadRequest")
        x1, x2, y1, y2 = (int(p) for p in parts)
        if x1 >= x2 or y1 >= y2:
            raise AliyunError("BadRequest")
        return x1, x2, y1, y2

    def picture(self) -> bytes:
        """PicContent's bytes: base64, at most 4 MB decoded (aliyun-wire §5.2)."""
        text = self.required("PicContent")
        if len(text) > (MAX_PIC_BYTES + 2) // 3 * 4 + 4096 or not _BASE64.match(text):
            raise AliyunError("BadRequest")
        try:
            data = base64.b64decode(text)
        except (binascii.Error, ValueError):
            raise AliyunError("BadRequest") from None
        if len(data) > MAX_PIC_BYTES:
            raise AliyunError("BadRequest")
        return data
