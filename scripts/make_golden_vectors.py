"""Write firmware_bridge/golden/vectors.json: bytes every codec (Python, C++, MicroPython) must match.

Run from the repo root after a deliberate protocol change; review the diff like code.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path
from typing import Any

import cbor2
from cobs import cobs

from firmware_bridge import (
    Ack,
    Command,
    Error,
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

OUT = Path(__file__).resolve().parent.parent / "firmware_bridge" / "golden" / "vectors.json"


def fields(message: Message) -> tuple[str, dict[str, Any]]:  # noqa: PLR0911 - one per type
    """The JSON form of a message, as the firmware tests read it."""
    if isinstance(message, Hello):
        sensors = [[s.quantity, s.unit] for s in message.sensors]
        return "hello", {
            "board_id": message.board_id,
            "firmware": message.firmware,
            "protocol": message.protocol,
            "sensors": sensors,
        }
    if isinstance(message, HelloRequest):
        return "hello_request", {"protocol": message.protocol}
    if isinstance(message, Reading):
        return "reading", {"sensor": message.sensor, "value": message.value}
    if isinstance(message, Readings):
        return "readings", {"entries": [list(e) for e in message.entries]}
    if isinstance(message, Command):
        return "command", {"name": message.name, "arg": message.arg}
    if isinstance(message, Ack):
        return "ack", {"seq": message.seq, "status": message.status, "detail": message.detail}
    if isinstance(message, Log):
        return "log", {"level": message.level, "text": message.text}
    return "error", {"code": message.code, "text": message.text, "ref": message.ref}


VALID: list[tuple[str, int, Message]] = [
    (
        "hello",
        0,
        Hello("esp32-a1b2c3", "1.0.0", 1, (Sensor("temperature", "°C"), Sensor("humidity", "%"))),
    ),
    ("hello_no_sensors", 0, Hello("uno-1", "0.1", 1, ())),
    ("hello_future_version", 0, Hello("uno-2", "9.0", 7, (Sensor("light", "lx"),))),
    ("hello_request", 0, HelloRequest(1)),
    ("reading_half_float", 1, Reading(0, 21.5)),
    ("reading_single_float", 2, Reading(1, 0.10000000149011612)),
    ("reading_negative_int", 3, Reading(0, -40)),
    ("reading_big_int", 300, Reading(2, 100000)),
    ("reading_zero", 65535, Reading(0, 0.0)),
    ("readings_batch", 4, Readings(((0, 21.5, 0), (1, 40.25, 0), (0, 21.75, 1000), (1, -3.0, 70000)))),
    ("readings_subnormal_half", 5, Readings(((0, 5.960464477539063e-08, 0), (0, 65504.0, 1)))),
    ("command_toggle", 7, Command("toggle", 13)),
    ("command_no_arg", 8, Command("hello")),
    ("command_text_arg", 9, Command("led", "on")),
    ("command_float_arg", 10, Command("setpoint", 20.5)),
    ("command_double_arg", 11, Command("setpoint", 20.1)),
    ("ack_ok", 12, Ack(7, 0, "")),
    ("ack_failed", 13, Ack(9, 2, "no such command")),
    ("log", 14, Log(1, "booted")),
    ("error_version", 15, Error(1, "protocol 7 is not supported; this host speaks 1", 0)),
    ("error_no_ref", 16, Error(4, "bad frame")),
]


def body_with_crc(kind: int, seq: int, payload: bytes) -> bytes:
    head = struct.pack("<BH", kind, seq) + payload
    return head + struct.pack("<I", zlib.crc32(head))


def framed(body: bytes) -> bytes:
    return b"\x00" + cobs.encode(body) + b"\x00"


def malformed() -> list[tuple[str, str, bytes]]:
    good = encode(Reading(0, 21.5), 1)
    body = cobs.decode(good[1:-1])
    bad_crc = body[:-1] + bytes([body[-1] ^ 0x01])
    return [
        ("bad_crc", "frame", framed(bad_crc)),
        ("bad_crc_payload_bit", "frame", framed(body[:4] + bytes([body[4] ^ 0x80]) + body[5:])),
        ("bad_cobs", "frame", b"\x00\x05\x01\x02\x00"),
        ("too_short", "frame", framed(b"\x03\x01\x00")),
        ("oversize", "frame", framed(body_with_crc(0x07, 1, cbor2.dumps({0: 1, 1: "x" * 520})))),
        ("unknown_type", "frame", framed(body_with_crc(0x7F, 1, cbor2.dumps({0: 1})))),
        ("payload_not_cbor", "payload", framed(body_with_crc(0x05, 1, b"\xff"))),
        ("payload_not_map", "payload", framed(body_with_crc(0x05, 1, cbor2.dumps([1, 2])))),
        ("command_missing_name", "payload", framed(body_with_crc(0x05, 1, cbor2.dumps({1: 5})))),
        ("command_name_not_text", "payload", framed(body_with_crc(0x05, 1, cbor2.dumps({0: 5})))),
        ("hello_request_missing_version", "payload", framed(body_with_crc(0x02, 1, cbor2.dumps({})))),
        ("reading_missing_value", "payload", framed(body_with_crc(0x03, 1, cbor2.dumps({0: 1})))),
        (
            "reading_value_infinite",
            "payload",
            framed(body_with_crc(0x03, 1, cbor2.dumps({0: 1, 1: float("inf")}))),
        ),
        ("readings_empty", "payload", framed(body_with_crc(0x04, 1, cbor2.dumps({0: []})))),
        (
            "hello_bad_quantity",
            "payload",
            framed(body_with_crc(0x01, 1, cbor2.dumps({0: "b", 1: "1", 2: 1, 3: [["Temp", "C"]]}))),
        ),
    ]


def main() -> None:
    vectors: dict[str, Any] = {
        "protocol_version": 1,
        "crc": "CRC-32/ISO-HDLC (zlib.crc32), little-endian, over type+seq+payload",
        "valid": [],
        "malformed": [],
    }
    for name, seq, message in VALID:
        wire_bytes = encode(message, seq)
        kind, data = fields(message)
        vectors["valid"].append(
            {"name": name, "type": kind, "seq": seq, "fields": data, "wire": wire_bytes.hex()}
        )
    for name, layer, wire_bytes in malformed():
        try:
            decode_frame(wire_bytes.strip(b"\x00"))
        except FrameError as exc:
            error = type(exc).__name__
        else:
            raise SystemExit(f"malformed vector {name} decodes")
        vectors["malformed"].append({"name": name, "layer": layer, "error": error, "wire": wire_bytes.hex()})
    OUT.write_text(json.dumps(vectors, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
