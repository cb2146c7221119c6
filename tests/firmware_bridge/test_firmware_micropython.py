"""The MicroPython module's codec, run under CPython, against the golden vectors."""

from __future__ import annotations

import importlib.util
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
from tests.firmware_bridge.firmware_support import answers_to_hello_request_and_commands
from tests.testbed.golden import VECTORS

ROOT = Path(__file__).resolve().parents[2]
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


class _NoInitAttribute(type):
    """MicroPython's built-in exception classes have no ``__init__`` attribute to call directly."""

    def __getattribute__(cls, name: str) -> Any:
        if name == "__init__":
            raise AttributeError(f"type object '{cls.__name__}' has no attribute '__init__'")
        return super().__getattribute__(name)


class _MicroPythonValueError(ValueError, metaclass=_NoInitAttribute):
    pass


def test_frame_errors_are_made_the_way_micropython_allows() -> None:
    path = ROOT / "firmware_bridge" / "firmware" / "micropython" / "hearth_board.py"
    namespace: dict[str, Any] = {"__name__": "hearth_board_mpy", "ValueError": _MicroPythonValueError}
    exec(compile(path.read_text("utf-8"), str(path), "exec"), namespace)
    malformed = next(v for v in VECTORS["malformed"] if v["error"] == "CrcMismatch")
    (result,) = namespace["FrameReader"]().feed(bytes.fromhex(malformed["wire"]))
    assert isinstance(result, ValueError)
    assert result.name == "CrcMismatch"


@pytest.mark.parametrize("value", [1e39, -1e39, 3.4028234663852886e38, 1e300, float("inf")])
def test_micropython_sends_values_beyond_float32_like_the_host_codec(mp: ModuleType, value: float) -> None:
    assert bytes(mp.reading(4, 0, value)) == encode(Reading(0, value), 4)


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
    assert FrameDecoder().events(bytes(written)) == [
        *answers_to_hello_request_and_commands("mpy-1"),
        Frame(6, Readings(((0, 21.75, 100),))),
    ]
    assert pin == [1]
    assert board.host_seen


def test_module_has_no_cpython_only_imports() -> None:
    source = (ROOT / "firmware_bridge" / "firmware" / "micropython" / "hearth_board.py").read_text()
    imports = {line.split()[1] for line in source.splitlines() if line.startswith(("import ", "from "))}
    assert imports <= {"struct", "binascii"}, imports
    assert "hearth_board" not in sys.modules


class _Pin:
    OUT = 1

    def __init__(self, *args: object) -> None:
        self.level = 0

    def value(self, level: object = None) -> int:
        if level is not None:
            self.level = int(bool(level))
        return self.level


def run_main(monkeypatch: pytest.MonkeyPatch, host: bytes) -> tuple[list[object], list[int]]:
    """Run main.py under CPython on fake ``machine``/``select``; return the messages it sent."""
    import io
    import types

    stdin = types.SimpleNamespace(buffer=io.BytesIO(host))
    stdout = types.SimpleNamespace(buffer=io.BytesIO())
    interrupts: list[int] = []
    clock = [0]

    def ticks_ms() -> int:
        clock[0] += 600
        return clock[0]

    fakes = {
        "machine": types.SimpleNamespace(Pin=_Pin, ADC=None, unique_id=lambda: b"\x01\x02"),
        "micropython": types.SimpleNamespace(kbd_intr=interrupts.append),
        "ubinascii": __import__("binascii"),
        "select": types.SimpleNamespace(
            POLLIN=1,
            poll=lambda: types.SimpleNamespace(
                register=lambda *a: None, poll=lambda ms: stdin.buffer.tell() < len(host)
            ),
        ),
        "time": types.SimpleNamespace(sleep=lambda s: None, ticks_ms=ticks_ms, ticks_diff=lambda a, b: a - b),
        "esp32": types.SimpleNamespace(raw_temperature=lambda: 113),
        "hearth_board": load_module(False),
    }
    for name, module in fakes.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(sys, "stdin", stdin)
    monkeypatch.setattr(sys, "stdout", stdout)
    monkeypatch.setattr(sys, "platform", "esp32")
    source = (ROOT / "firmware_bridge" / "firmware" / "micropython" / "main.py").read_text()
    exec(compile(source, "main.py", "exec"), {"__name__": "__main__"})
    monkeypatch.undo()
    events = FrameDecoder().events(stdout.buffer.getvalue())
    return [e.message for e in events if isinstance(e, Frame)], interrupts


def test_example_main_runs_until_the_repl_command(monkeypatch: pytest.MonkeyPatch) -> None:
    host = encode(HelloRequest(1), 5) + encode(Command("toggle"), 6) + encode(Command("repl"), 7)
    messages, interrupts = run_main(monkeypatch, host)
    hello = Hello("mpy-0102", "1.0.0", 1, (Sensor("temperature", "°C"),))
    assert [m for m in messages if isinstance(m, Hello)] == [hello, hello]
    assert Ack(6, 0, "on") in messages
    assert Ack(7, 0, "leaving for the REPL") in messages
    assert Reading(0, 45.0) in messages
    assert interrupts == [-1, 3]  # Ctrl-C off while framing, back on for the REPL


def test_example_main_streams_without_a_hello_request(monkeypatch: pytest.MonkeyPatch) -> None:
    # A board reset while the host listens sends HELLO; the host has no reason to ask again.
    messages, _ = run_main(monkeypatch, encode(Command("toggle"), 6) + encode(Command("repl"), 7))
    assert messages[0] == Hello("mpy-0102", "1.0.0", 1, (Sensor("temperature", "°C"),))
    assert Reading(0, 45.0) in messages
