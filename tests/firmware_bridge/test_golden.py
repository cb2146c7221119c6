"""The Python codec against the golden vectors shared with the C++ and MicroPython firmware."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from firmware_bridge import (
    Ack,
    Command,
    Error,
    Frame,
    FrameDecoder,
    Hello,
    HelloRequest,
    Log,
    Message,
    Reading,
    Readings,
    Sensor,
    decode_frame,
    encode,
)
from firmware_bridge.errors import FrameError

VECTORS_FILE = Path(__file__).resolve().parents[2] / "firmware_bridge" / "golden" / "vectors.json"
VECTORS: dict[str, Any] = json.loads(VECTORS_FILE.read_text(encoding="utf-8"))


def message_of(kind: str, f: dict[str, Any]) -> Message:
    """The message a vector's ``fields`` describe."""
    builders: dict[str, Any] = {
        "hello": lambda: Hello(
            f["board_id"], f["firmware"], f["protocol"], tuple(Sensor(q, u) for q, u in f["sensors"])
        ),
        "hello_request": lambda: HelloRequest(f["protocol"]),
        "reading": lambda: Reading(f["sensor"], f["value"]),
        "readings": lambda: Readings(tuple(tuple(e) for e in f["entries"])),
        "command": lambda: Command(f["name"], f["arg"]),
        "ack": lambda: Ack(f["seq"], f["status"], f["detail"]),
        "log": lambda: Log(f["level"], f["text"]),
        "error": lambda: Error(f["code"], f["text"], f["ref"]),
    }
    result: Message = builders[kind]()
    return result


def test_vectors_cover_every_message_type() -> None:
    assert VECTORS["protocol_version"] == 1
    kinds = {v["type"] for v in VECTORS["valid"]}
    assert kinds == {"hello", "hello_request", "reading", "readings", "command", "ack", "log", "error"}


@pytest.mark.parametrize("vector", VECTORS["valid"], ids=lambda v: v["name"])
def test_encode_matches_vector(vector: dict[str, Any]) -> None:
    message = message_of(vector["type"], vector["fields"])
    assert encode(message, vector["seq"]).hex() == vector["wire"]


@pytest.mark.parametrize("vector", VECTORS["valid"], ids=lambda v: v["name"])
def test_decode_matches_vector(vector: dict[str, Any]) -> None:
    message = message_of(vector["type"], vector["fields"])
    assert FrameDecoder().events(bytes.fromhex(vector["wire"])) == [Frame(vector["seq"], message)]


@pytest.mark.parametrize("vector", VECTORS["malformed"], ids=lambda v: v["name"])
def test_malformed_vector_raises_named_error(vector: dict[str, Any]) -> None:
    with pytest.raises(FrameError) as caught:
        decode_frame(bytes.fromhex(vector["wire"]).strip(b"\x00"))
    assert type(caught.value).__name__ == vector["error"]
