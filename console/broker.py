"""The embedded broker: kombu's file transport, with every message written atomically.

kombu writes a message file in place, in the folder its consumers poll. A worker that polls
between the file's creation and its write takes an empty message, fails to parse it and
stops (`Unrecoverable error: JSONDecodeError`, celery/kombu#1551). Two web processes feeding
one worker met it within seconds. Here the message is written under a name no consumer takes
and renamed into place, which on one filesystem is atomic: a consumer sees all of it or none.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

# Consumers take `<stamp>_<uuid>.<queue>.msg`; a name that starts with a dot is never that.
PART_PREFIX = "."


class Channel(filesystem.Channel):
    # kombu's file channel itself names the argument differently from its base class.
    def _put(self, queue: str, payload: dict[str, Any], **kwargs: Any) -> None:  # type: ignore[override]
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        folder = Path(self.data_folder_out)
        part = folder / (PART_PREFIX + name)
        try:
            part.write_bytes(str_to_bytes(dumps(payload)))
            part.replace(folder / name)
        except OSError as exc:
            part.unlink(missing_ok=True)
            raise ChannelError(f"Cannot add file {name!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
