"""Messages that are stored and shown later, maybe to someone who reads another language.

A problem of a batch is written by whoever's request or task met it, in that language; the
page showing it may be read by a teammate in another. So such a message is a `Text`: a `str`
in the active language (everything that takes a string still works) that remembers its msgid
and parameters. What stores it keeps both (`as_json`), and a page renders it again in the
viewer's language (`render_stored`); a row stored before, with the text only, is shown as it
was written.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext


class Text(str):
    """A translated message with its msgid and parameters (`%(name)s` style)."""

    msgid: str
    params: dict[str, Any]

    def __new__(cls, msgid: str, **params: Any) -> Text:
        translated = gettext(msgid)
        rendered = translated % params if params else translated
        text = super().__new__(cls, rendered)
        text.msgid, text.params = msgid, params
        return text

    def as_json(self) -> dict[str, Any]:
        return {"id": self.msgid, "params": self.params}


def text_json(message: object) -> dict[str, Any] | None:
    """How a message is stored beside its text: its msgid and parameters, or None for a plain
    string (an error message from a backend, which has no translation)."""
    return message.as_json() if isinstance(message, Text) else None


def render_stored(message: str, stored: Any) -> str:
    """A stored message in the active language: from its msgid and parameters where they were
    kept, else the text as it was written."""
    if not isinstance(stored, dict) or not isinstance(stored.get("id"), str):
        return message
    params = stored.get("params") or {}
    try:
        return Text(stored["id"], **params) if isinstance(params, dict) else message
    except (KeyError, TypeError, ValueError):
        return message
