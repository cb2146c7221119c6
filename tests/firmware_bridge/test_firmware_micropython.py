"""The MicroPython module's codec, run under CPython, against the golden vectors."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from firmware_bridge import (
    Ack,
    Command,
    Frame,
    FrameDecoder,
    Hello,
    HelloRequest,
    Reading,
    Readings,
    Sensor,
    encode,
)

ROOT = Path(__file__).resolve().parents[2]
VECTORS: dict[str, Any] = json.loads(
    (ROOT / "firmware_bridge" / "golden" / "vectors.json").read_text("utf-8")
)
BOARD_SENDS = {"hello", "reading", "readings", "ack", "log", "error"}
BOARD_DECODES = {"hello_request", "command", "error"}


def load_module(crc_fallback: bool) -> ModuleType:
    path = ROOT / "firmware_bridge" / "firmware" / "micropython" / "hearth_board.py"
    spec = importlib.util.spec_from_file_location(f"hearth_board_{crc_fallback}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if crc_fallback:
        module._crc32 = None  # as on a port built without binascii.crc32
    return module


@pytest.fixture(params=[False, True], ids=["binascii-crc", "bitwise-crc"])
def mp(request: pytest.FixtureRequest) -> ModuleType:
    return load_module(request.param)


def encode_with(mp: ModuleType, vector: dict[str, Any]) -> bytes:
    f, seq = vector["fields"], vector["seq"]
    kind = vector["type"]
    if kind == "hello":
        return bytes(mp.hello(seq, f["board_id"], f["firmware"], f["sensors"], f["protocol"]))
    if kind == "reading":
        return bytes(mp.reading(seq, f["sensor"], f["value"]))
    if kind == "readings":
        return bytes(mp.readings(seq, f["entries"]))
    if kind == "ack":
        return bytes(mp.ack(seq, f["seq"], f["status"], f["detail"]))
    if kind == "log":
        return bytes(mp.log(seq, f["level"], f["text"]))
    return bytes(mp.error(seq, f["code"], f["text"], f["ref"]))


def test_crc_check_value(mp: ModuleType) -> None:
    assert mp.crc32(b"123456789") == 0xCBF43926


@pytest.mark.parametrize(
    "vector", [v for v in VECTORS["valid"] if v["type"] in BOARD_SENDS], ids=lambda v: v["name"]
)
def test_micropython_encodes_golden_vectors(mp: ModuleType, vector: dict[str, Any]) -> None:
    assert encode_with(mp, vector).hex() == vector["wire"]


@pytest.mark.parametrize("vector", VECTORS["valid"], ids=lambda v: v["name"])
def test_micropython_decodes_golden_vectors(mp: ModuleType, vector: dict[str, Any]) -> None:
    (result,) = mp.FrameReader().feed(bytes.fromhex(vector["wire"]))
    kind, seq, payload = result
    assert seq == vector["seq"]
    f = vector["fields"]
    if vector["type"] == "command":
        assert (kind, payload[0], payload.get(1)) == (5, f["name"], f["arg"])
    elif vector["type"] == "hello_request":
        assert (kind, payload[0]) == (2, f["protocol"])
    elif vector["type"] == "error":
        assert (kind, payload[0], payload[1], payload.get(2)) == (8, f["code"], f["text"], f["ref"])


@pytest.mark.parametrize("vector", VECTORS["malformed"], ids=lambda v: v["name"])
def test_micropython_rejects_malformed_vectors(mp: ModuleType, vector: dict[str, Any]) -> None:
    board_checks = vector["layer"] == "frame" or vector["name"].startswith(
        ("command", "hello_request", "payload")
    )
    (result,) = mp.FrameReader().feed(bytes.fromhex(vector["wire"]))
    if board_checks:
        assert isinstance(result, mp.FrameError)
        assert result.name == vector["error"]


def test_micropython_board_behaves_like_the_reference_firmware(mp: ModuleType) -> None:
    written = bytearray()
    pin = []

    def on_command(name: str, arg: object) -> tuple[int, str]:
        if name == "toggle":
            pin.append(1)
            return 0, "on"
        return 2, "unknown command"

    board = mp.Board(written.extend, "mpy-1", "1.0.0", [("temperature", "°C")], on_command)
    board.begin()
    board.feed(b"garbage" + encode(HelloRequest(1), 0) + encode(Command("toggle", 13), 1))
    board.feed(encode(Command("toggle", 13), 1) + encode(Command("explode"), 2))
    board.send_reading(0, 21.5)
    board.send_readings([(0, 21.75, 100)])
    hello = Hello("mpy-1", "1.0.0", 1, (Sensor("temperature", "°C"),))
    assert FrameDecoder().events(bytes(written)) == [
        Frame(0, hello),
        Frame(1, hello),
        Frame(2, Ack(1, 0, "on")),
        Frame(3, Ack(1, 0, "repeat")),
        Frame(4, Ack(2, 2, "unknown command")),
        Frame(5, Reading(0, 21.5)),
        Frame(6, Readings(((0, 21.75, 100),))),
    ]
    assert pin == [1]
    assert board.host_seen


def test_module_has_no_cpython_only_imports() -> None:
    source = (ROOT / "firmware_bridge" / "firmware" / "micropython" / "hearth_board.py").read_text()
    imports = {line.split()[1] for line in source.splitlines() if line.startswith(("import ", "from "))}
    assert imports <= {"struct", "binascii"}, imports
    assert "hearth_board" not in sys.modules
