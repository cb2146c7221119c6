"""The Arduino library's C++ codec, compiled on the host, against the golden vectors."""

from __future__ import annotations

import math
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cobs import cobs  # type: ignore[import-untyped]

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

LIBRARY = Path(__file__).resolve().parents[2] / "firmware_bridge" / "firmware" / "arduino" / "HearthBridge"
BOARD_SENDS = {"hello", "hello_request", "reading", "readings", "ack", "log", "error"}
BOARD_DECODES = {"hello_request", "command", "error"}


def text(value: str) -> str:
    return "x" + value.encode().hex()


def number(value: float) -> str:
    return f"i:{value}" if isinstance(value, int) else f"f:{value!r}"


def encode_line(vector: dict[str, Any]) -> str:
    f = vector["fields"]
    kind, seq = vector["type"], vector["seq"]
    if kind == "hello":
        sensors = " ".join(f"{text(q)} {text(u)}" for q, u in f["sensors"])
        args = f"{text(f['board_id'])} {text(f['firmware'])} {f['protocol']} {len(f['sensors'])} {sensors}"
    elif kind == "hello_request":
        args = str(f["protocol"])
    elif kind == "reading":
        args = f"{f['sensor']} {number(f['value'])}"
    elif kind == "readings":
        args = f"{len(f['entries'])} " + " ".join(f"{s} {number(v)} {a}" for s, v, a in f["entries"])
    elif kind == "ack":
        args = f"{f['seq']} {f['status']} {text(f['detail'])}"
    elif kind == "log":
        args = f"{f['level']} {text(f['text'])}"
    else:
        args = f"{f['code']} {text(f['text'])} {'-' if f['ref'] is None else f['ref']}"
    return f"E {kind} {seq} {args}"


def expected_decode(vector: dict[str, Any]) -> str:
    f = vector["fields"]
    kind, seq = vector["type"], vector["seq"]
    if kind == "command":
        arg = f["arg"]
        if arg is None:
            shown = "none -"
        elif isinstance(arg, str):
            shown = f"text {text(arg)}"
        elif isinstance(arg, int):
            shown = f"int {arg}"
        else:
            shown = f"float {arg!r}"
        return f"OK 5 {seq} {text(f['name'])} {shown}"
    if kind == "hello_request":
        return f"OK 2 {seq} {f['protocol']}"
    ref = "-" if f["ref"] is None else f["ref"]
    return f"OK 8 {seq} {f['code']} {text(f['text'])} {ref}"


def normalise(line: str) -> str:
    """Print C++'s %.17g floats the way Python does (shortest round trip)."""
    words = line.split(" ")
    if len(words) > 4 and words[4] == "float":
        words[5] = repr(float(words[5]))
    return " ".join(words)


@pytest.fixture(scope="module")
def host_test(tmp_path_factory: pytest.TempPathFactory) -> Path:
    compiler = shutil.which("g++")
    if compiler is None:
        pytest.skip("g++ is not installed (scripts/system-deps installs it)")
    binary = tmp_path_factory.mktemp("cpp") / "host_test"
    subprocess.run(
        [
            compiler,
            "-std=c++17",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-O1",
            "-o",
            str(binary),
            str(LIBRARY / "src" / "HearthCodec.cpp"),
            str(LIBRARY / "extras" / "host_test" / "host_test.cpp"),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return binary


def run(binary: Path, lines: list[str]) -> list[str]:
    result = subprocess.run(
        [str(binary)], input="\n".join(lines) + "\n", capture_output=True, text=True, check=True, timeout=30
    )
    return result.stdout.splitlines()


def test_cpp_encodes_golden_vectors(host_test: Path) -> None:
    vectors = [v for v in VECTORS["valid"] if v["type"] in BOARD_SENDS]
    assert len(vectors) >= 15
    output = run(host_test, [encode_line(v) for v in vectors])
    for vector, got in zip(vectors, output, strict=True):
        assert got == vector["wire"], vector["name"]


def test_cpp_decodes_golden_vectors(host_test: Path) -> None:
    vectors = [v for v in VECTORS["valid"] if v["type"] in BOARD_DECODES]
    output = run(host_test, [f"D {v['wire']}" for v in vectors])
    for vector, got in zip(vectors, output, strict=True):
        assert normalise(got) == expected_decode(vector), vector["name"]


def test_cpp_rejects_malformed_vectors_with_the_same_error(host_test: Path) -> None:
    vectors = [v for v in VECTORS["malformed"] if v["layer"] == "frame" or v["name"].startswith("command")]
    vectors += [v for v in VECTORS["malformed"] if v["name"] in {"payload_not_cbor", "payload_not_map"}]
    output = run(host_test, [f"D {v['wire']}" for v in vectors])
    for vector, got in zip(vectors, output, strict=True):
        assert got == f"ERR {vector['error']}", vector["name"]


def test_cpp_resynchronises_after_garbage(host_test: Path) -> None:
    command = next(v for v in VECTORS["valid"] if v["name"] == "command_toggle")["wire"]
    stream = "65747320626f6f74" + command + "ffff" + command
    assert run(host_test, [f"D {stream}"]) == [
        "ERR CobsError;OK 5 7 x746f67676c65 int 13;ERR CobsError;OK 5 7 x746f67676c65 int 13"
    ]


def test_cpp_board_answers_hello_request_and_acks_commands_once(host_test: Path) -> None:
    host_bytes = encode(HelloRequest(1), 0) + encode(Command("toggle"), 1) + encode(Command("toggle"), 1)
    host_bytes += encode(Command("explode"), 2)
    (output,) = run(host_test, [f"B {host_bytes.hex()}"])
    assert FrameDecoder().events(bytes.fromhex(output)) == answers_to_hello_request_and_commands("host-board")


def compile_sketch(tmp_path: Path) -> Path:
    compiler = shutil.which("g++")
    if compiler is None:
        pytest.skip("g++ is not installed (scripts/system-deps installs it)")
    shim = Path(__file__).resolve().parent / "arduino_shim"
    sketch = LIBRARY / "examples" / "SensorToggle" / "SensorToggle.ino"
    binary = tmp_path / "sketch"
    command = [
        compiler,
        "-std=c++17",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-I",
        str(shim),
        "-I",
        str(LIBRARY / "src"),
    ]
    command += ["-include", "Arduino.h", "-x", "c++", str(sketch), "-x", "none"]
    command += [str(LIBRARY / "src" / "HearthCodec.cpp"), str(shim / "run_sketch.cpp"), "-o", str(binary)]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    return binary


def run_sketch(binary: Path, host: bytes) -> tuple[list[Any], str]:
    result = subprocess.run(
        [str(binary)], input=host.hex() + "\n", capture_output=True, text=True, check=True, timeout=30
    )
    wire_hex, led = result.stdout.split()
    return FrameDecoder().events(bytes.fromhex(wire_hex)), led


SKETCH_HELLO = Hello("uno-tmp36-1", "1.0.0", 1, (Sensor("temperature", "°C"), Sensor("raw", "")))


def test_example_sketch_compiles_and_obeys_commands(tmp_path: Path) -> None:
    binary = compile_sketch(tmp_path)
    host = encode(HelloRequest(1), 0) + encode(Command("toggle"), 1) + encode(Command("set", 7), 2)
    events, led = run_sketch(binary, host)
    assert events[:4] == [
        Frame(0, SKETCH_HELLO),
        Frame(1, SKETCH_HELLO),
        Frame(2, Ack(1, 0, "on")),
        Frame(3, Ack(2, 3, "set takes 0 or 1")),
    ]
    readings = [e.message for e in events[4:] if isinstance(e, Frame)]
    assert len(readings) == 6
    assert readings[1] == Reading(1, 153)
    assert isinstance(readings[0], Reading)
    assert readings[0].value == pytest.approx(24.78, abs=0.01)
    assert led == "1"


def test_example_sketch_streams_after_a_reset_that_ate_the_hello_request(tmp_path: Path) -> None:
    # Opening an Uno's port resets it; its bootloader swallows the host's one HELLO_REQUEST.
    events, _ = run_sketch(compile_sketch(tmp_path), b"")
    messages = [e.message for e in events if isinstance(e, Frame)]
    assert messages[0] == SKETCH_HELLO
    assert messages[1:] == [Reading(0, pytest.approx(24.78, abs=0.01)), Reading(1, 153)] * 3


def test_codec_and_board_keep_no_large_buffer_on_the_stack(tmp_path: Path) -> None:
    """An Uno has 2 KB of RAM for everything: no function of the library may take more than 192 B of stack."""
    compiler = shutil.which("g++")
    if compiler is None:
        pytest.skip("g++ is not installed (scripts/system-deps installs it)")
    user = tmp_path / "board_user.cpp"
    user.write_text(
        '#include "HearthBridge.h"\n'
        "struct IO { int available(); int read(); void write(const unsigned char*, unsigned long); };\n"
        "extern IO io;\n"
        'static const hearth::Sensor SENSORS[] = {{"temperature", "C"}};\n'
        'hearth::Board<IO> board(io, "uno-1", "1.0.0", SENSORS, 1);\n'
        'void pump() { board.poll(); board.sendReading(0, 21.5); board.log(1, "up"); }\n'
    )
    for source in (LIBRARY / "src" / "HearthCodec.cpp", user):
        flags = ["-std=c++17", "-O1", "-Wframe-larger-than=192", "-Werror", "-I", str(LIBRARY / "src")]
        subprocess.run(
            [compiler, *flags, "-c", str(source), "-o", str(tmp_path / (source.stem + ".o"))],
            check=True,
            capture_output=True,
            timeout=120,
        )


def float32_bits(value: float) -> str:
    """The bits of ``value`` rounded to the nearest float32, as C rounds a double to a float."""
    try:
        return struct.pack(">f", value).hex()
    except OverflowError:
        return struct.pack(">f", math.copysign(math.inf, value)).hex()


@pytest.mark.parametrize(
    "value",
    [
        *(0.1, -0.1, 21.55, 16777217.0, 16777219.0, 3.4028235677973366e38, 1e39, -1e300, 1e-50, 5e-324),
        *(1.5e-45, 1e-40, 0.0, -0.0, math.inf, -math.inf, math.nan),
    ],
)
def test_cpp_rounds_binary64_to_the_nearest_float(host_test: Path, value: float) -> None:
    # AVR's double is 32 bits: a host's `set 0.1` (sent as fb) must still arrive, rounded.
    (got,) = run(host_test, [f"F {struct.pack('>d', value).hex()}"])
    assert got == float32_bits(value)


def test_cpp_builds_long_frames_in_place(host_test: Path) -> None:
    # 40 entries without a zero byte: COBS blocks of 254 bytes, built inside the output buffer.
    values = [struct.unpack(">f", bytes([0x41, 0x11 + i, 0x22, 0x33]))[0] for i in range(40)]
    entries = tuple((i + 1, value, 300 + i) for i, value in enumerate(values))
    line = f"E readings 258 {len(entries)} " + " ".join(f"{s} f:{v!r} {a}" for s, v, a in entries)
    (got,) = run(host_test, [line])
    wire = encode(Readings(entries), 258)
    assert len(wire) > 400
    assert got == wire.hex()


@pytest.fixture(scope="module")
def sanitized_host_test(tmp_path_factory: pytest.TempPathFactory) -> Path:
    compiler = shutil.which("g++")
    if compiler is None:
        pytest.skip("g++ is not installed (scripts/system-deps installs it)")
    binary = tmp_path_factory.mktemp("cpp-asan") / "host_test"
    sources = [LIBRARY / "src" / "HearthCodec.cpp", LIBRARY / "extras" / "host_test" / "host_test.cpp"]
    flags = ["-std=c++17", "-g", "-O1", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
    command = [compiler, *flags, "-o", str(binary), *map(str, sources)]
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    return binary


@pytest.mark.parametrize("name", ["hello", "readings_batch", "error_version", "log"])
def test_cpp_encoders_never_write_past_the_buffer(sanitized_host_test: Path, name: str) -> None:
    # Frames are built inside the caller's buffer: every size either fits the frame exactly or is refused.
    vector = next(v for v in VECTORS["valid"] if v["name"] == name)
    wire = bytes.fromhex(vector["wire"])
    body = len(cobs.decode(wire[1:-1]))
    caps = range(len(wire) + 8)
    line = encode_line(vector)[2:]
    output = run(sanitized_host_test, [f"C {cap} {line}" for cap in caps])
    for cap, got in zip(caps, output, strict=True):
        if cap >= body + body // 254 + 4:
            assert got == vector["wire"], cap
        else:
            assert got in {"ENCODE-FAILED", vector["wire"]}, cap
