"""A logging filter that masks credentials wherever they appear in a log line."""

from __future__ import annotations

import logging
import re

_PATTERNS = [
    re.compile(
        r"(?i)((?:access_token|client_secret|refresh_token|session_secret|session_key|"
        r"secret_key|password)[\"']?\s*[=:]\s*[\"']?)[^&\s\"',}]+"
    ),
    re.compile(r"(bce-auth-v1/[^/\s]+/[^/\s]+/\d+/[^/\s]+/)[0-9a-f]+"),
]


def redact(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(r"\1***", text)
    return text


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
