"""console.broker: the embedded file broker never hands a consumer a message half written."""

from __future__ import annotations

from pathlib import Path
from queue import Empty
from typing import Any

import pytest
from kombu import Connection
from kombu.transport import filesystem

from console import broker


def channel(folder: Path, transport: str) -> Any:
    connection = Connection(
        "filesystem://",
        transport=transport,
        transport_options={"data_folder_in": str(folder), "data_folder_out": str(folder)},
    )
    return connection.default_channel


def polled_while_writing(monkeypatch: pytest.MonkeyPatch, module: Any, chan: Any) -> list[str]:
    """Put one message; while its bytes are being made, a consumer polls the folder."""
    seen: list[str] = []
    encode = module.str_to_bytes

    def encode_and_poll(text: str) -> bytes:
        try:
            seen.append(repr(chan._get("tasks")))
        except Empty:
            seen.append("empty")
        except ValueError as exc:  # the stock transport: the half-written file
            seen.append(f"broken: {exc}")
        return bytes(encode(text))

    monkeypatch.setattr(module, "str_to_bytes", encode_and_poll)
    chan._put("tasks", {"body": "one"})
    return seen


def test_a_message_is_invisible_until_it_is_whole(tmp_path, monkeypatch):
    chan = channel(tmp_path, "console.broker:Transport")
    assert polled_while_writing(monkeypatch, broker, chan) == ["empty"]
    assert chan._get("tasks") == {"body": "one"}
    assert list(tmp_path.iterdir()) == []  # nothing left behind


def test_kombus_own_transport_hands_out_the_empty_file(tmp_path, monkeypatch):
    """What the atomic write is for (celery/kombu#1551); if kombu fixes it, this fails and
    `console.broker` can go."""
    chan = channel(tmp_path, "filesystem")
    assert polled_while_writing(monkeypatch, filesystem, chan)[0].startswith("broken")


def test_a_failed_write_leaves_no_part_file(tmp_path, monkeypatch):
    chan = channel(tmp_path, "console.broker:Transport")

    def full(_: str) -> bytes:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(broker, "str_to_bytes", full)
    with pytest.raises(broker.ChannelError):
        chan._put("tasks", {"body": "one"})
    assert list(tmp_path.iterdir()) == []
