"""The one exception the Alibaba wire answers with (aliyun-wire §3)."""

from __future__ import annotations

from wire.aliyun import ERRORS


class AliyunError(Exception):
    """A failed call: answered with the code's HTTP status and `{RequestId, Code, Message}`."""

    def __init__(self, code: str) -> None:
        self.code = code
        self.status, self.message = ERRORS[code]
        super().__init__(f"{self.status} {code}")
