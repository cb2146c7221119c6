"""The framed codec: round trips, wire constants, exact errors, streaming in every split."""

from __future__ import annotations

import struct
import zlib

import cbor2
import pytest
from cobs import cobs

from firmware_bridge import (
    NEED_DATA,
    Ack,
    CobsError,
    Command,
    CrcMismatch,
    Dropped,
    Error,
    Frame,
    FrameDecoder,
    FrameTooLarge,
    FrameTooShort,
    Hello,
    HelloRequest,
    Log,
    Message,
    PayloadError,
    Reading,
    Readings,
    Sensor,
    UnknownMessageType,
    decode_frame,
    encode,
)

EVERY_MESSAGE: list[Message] = [
    Hello("esp32-a1b2c3", "1.0.0", 1, (Sensor("temperature", "°C"), Sensor("humidity", "%"))),
    HelloRequest(1),
    Reading(0, 21.5),
    Reading(3, -7),
    Readings(((0, 21.5, 0), (1, 40.0, 250))),
    Command("toggle", 13),
    Command("led", "on"),
    Command("hello"),
    Ack(7, 0, ""),
    Ack(9, 2, "no such command"),
    Log(2, "sensor read failed"),
    Error(1, "protocol 7 is not supported", 0),
    Error(4, "bad frame"),
]


def body(kind: int, seq: int, payload: bytes) -> bytes:
    head = struct.pack("<BH", kind, seq) + payload
    return head + struct.pack("<I", zlib.crc32(head))


def chunk_of(kind: int, seq: int, payload: bytes) -> bytes:
    return bytes(cobs.encode(body(kind, seq, payload)))


def test_wire_constants() -> None:
    from firmware_bridge import wire

    assert wire.PROTOCOL_VERSION == 1
    assert (wire.HELLO, wire.HELLO_REQUEST, wire.READING, wire.READINGS) == (1, 2, 3, 4)
    assert (wire.COMMAND, wire.ACK, wire.LOG, wire.ERROR) == (5, 6, 7, 8)
    assert wire.MAX_BODY == 512
    assert wire.MAX_ENCODED == 515
    # CRC-32/ISO-HDLC: the catalogue's check value for "123456789".
    assert zlib.crc32(b"123456789") == 0xCBF43926


@pytest.mark.parametrize("message", EVERY_MESSAGE, ids=lambda m: type(m).__name__)
def test_round_trip_every_message(message: Message) -> None:
    wire_bytes = encode(message, 513)
    assert wire_bytes[0] == 0
    assert wire_bytes[-1] == 0
    assert 0 not in wire_bytes[1:-1]
    assert FrameDecoder().events(wire_bytes) == [Frame(513, message)]


def test_frame_layout_in_bytes() -> None:
    wire_bytes = encode(Reading(0, 21.5), 1)
    raw = cobs.decode(wire_bytes[1:-1])
    assert raw[:3] == bytes([0x03, 0x01, 0x00])  # type READING, seq 1 little-endian
    assert raw[3:-4] == bytes.fromhex("a2000001f94d60")
    assert struct.unpack("<I", raw[-4:])[0] == zlib.crc32(raw[:-4])


@pytest.mark.parametrize("message", EVERY_MESSAGE, ids=lambda m: type(m).__name__)
def test_every_prefix_is_incomplete(message: Message) -> None:
    wire_bytes = encode(message, 2)
    for end in range(len(wire_bytes)):
        decoder = FrameDecoder()
        decoder.feed(wire_bytes[:end])
        assert decoder.next_event() is NEED_DATA, end


MALFORMED = [
    pytest.param(b"\x05\x01\x02", CobsError, id="cobs-length-past-end"),
    pytest.param(bytes(cobs.encode(b"\x03\x01\x00")), FrameTooShort, id="body-too-short"),
    pytest.param(
        bytes(cobs.encode(body(0x03, 1, cbor2.dumps({0: 0, 1: 1.5}))[:-1] + b"\x00")),
        CrcMismatch,
        id="crc-flipped",
    ),
    pytest.param(chunk_of(0x7F, 1, cbor2.dumps({0: 1})), UnknownMessageType, id="unknown-type"),
    pytest.param(chunk_of(0x00, 1, cbor2.dumps({0: 1})), UnknownMessageType, id="type-zero"),
    pytest.param(chunk_of(0x03, 1, b"\xff"), PayloadError, id="payload-not-cbor"),
    pytest.param(chunk_of(0x03, 1, b"\xa2\x00"), PayloadError, id="payload-truncated-cbor"),
    pytest.param(chunk_of(0x03, 1, cbor2.dumps([0, 1])), PayloadError, id="payload-not-map"),
    pytest.param(chunk_of(0x03, 1, cbor2.dumps({0: 0})), PayloadError, id="reading-no-value"),
    pytest.param(chunk_of(0x03, 1, cbor2.dumps({0: 0, 1: "hot"})), PayloadError, id="reading-text-value"),
    pytest.param(chunk_of(0x03, 1, cbor2.dumps({0: 0, 1: True})), PayloadError, id="reading-bool-value"),
    pytest.param(chunk_of(0x03, 1, cbor2.dumps({0: 0, 1: float("nan")})), PayloadError, id="reading-nan"),
    pytest.param(chunk_of(0x03, 1, cbor2.dumps({0: 256, 1: 1})), PayloadError, id="reading-sensor-256"),
    pytest.param(chunk_of(0x03, 1, cbor2.dumps({0: -1, 1: 1})), PayloadError, id="reading-sensor-negative"),
    pytest.param(chunk_of(0x04, 1, cbor2.dumps({0: []})), PayloadError, id="readings-empty"),
    pytest.param(chunk_of(0x04, 1, cbor2.dumps({0: [[0, 1]]})), PayloadError, id="readings-entry-short"),
    pytest.param(chunk_of(0x04, 1, cbor2.dumps({0: [[0, 1, -5]]})), PayloadError, id="readings-age-negative"),
    pytest.param(chunk_of(0x04, 1, cbor2.dumps({0: [[0, 1, 0]] * 65})), PayloadError, id="readings-too-many"),
    pytest.param(
        chunk_of(0x01, 0, cbor2.dumps({0: "", 1: "1", 2: 1, 3: []})), PayloadError, id="hello-empty-board-id"
    ),
    pytest.param(
        chunk_of(0x01, 0, cbor2.dumps({0: "b", 1: "1", 2: 1, 3: [["Temp", "C"]]})),
        PayloadError,
        id="hello-bad-quantity",
    ),
    pytest.param(
        chunk_of(0x01, 0, cbor2.dumps({0: "b", 1: "1", 2: 1, 3: [["t", "C"]] * 33})),
        PayloadError,
        id="hello-too-many-sensors",
    ),
    pytest.param(chunk_of(0x05, 1, cbor2.dumps({1: 5})), PayloadError, id="command-no-name"),
    pytest.param(chunk_of(0x05, 1, cbor2.dumps({0: "x", 1: [1]})), PayloadError, id="command-list-arg"),
    pytest.param(chunk_of(0x06, 1, cbor2.dumps({0: 70000, 1: 0})), PayloadError, id="ack-seq-too-big"),
    pytest.param(chunk_of(0x07, 1, cbor2.dumps({0: 9, 1: "x"})), PayloadError, id="log-level-9"),
    pytest.param(chunk_of(0x07, 1, cbor2.dumps({0: 1, 1: "x" * 201})), PayloadError, id="log-text-too-long"),
    pytest.param(
        bytes(cobs.encode(body(0x07, 1, cbor2.dumps({0: 1, 1: "x" * 520})))),
        FrameTooLarge,
        id="oversize-frame",
    ),
]


@pytest.mark.parametrize(("chunk", "error"), MALFORMED)
def test_exact_error_per_malformed_input(chunk: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        decode_frame(chunk)
    # The streaming decoder reports the same error as an event and never raises.
    events = FrameDecoder().events(b"\x00" + chunk + b"\x00")
    assert len(events) == 1
    assert isinstance(events[0], Dropped)
    assert type(events[0].error) is error


def test_oversize_message_refused_by_encoder_with_clear_error() -> None:
    encode(Log(1, "x" * 200), 0)
    with pytest.raises(FrameTooLarge, match=r"Readings needs a 1035-byte frame; the maximum is 512"):
        encode(Readings(tuple((0, 1.0e-300, 70000) for _ in range(64))), 0)


def test_oversize_stream_without_delimiter_is_skipped_then_next_frame_decodes() -> None:
    decoder = FrameDecoder()
    good = encode(Reading(0, 1.0), 5)
    events = decoder.events(b"\x00" + b"\x01" * 400)
    events += decoder.events(b"\x01" * 400)
    assert decoder.pending <= 1000
    events += decoder.events(b"\x01" * 10 + good)
    assert isinstance(events[0], Dropped)
    assert isinstance(events[0].error, FrameTooLarge)
    assert "exceed the maximum frame of 515" in str(events[0].error)
    assert events[1:] == [Frame(5, Reading(0, 1.0))]


FRAMES = [encode(Reading(i % 3, float(i)), i) for i in range(5)]
STREAM = b"".join(FRAMES)
EXPECTED = [Frame(i, Reading(i % 3, float(i))) for i in range(5)]


def test_whole_stream_at_once() -> None:
    assert FrameDecoder().events(STREAM) == EXPECTED


def test_byte_by_byte() -> None:
    decoder = FrameDecoder()
    events = []
    for i in range(len(STREAM)):
        events += decoder.events(STREAM[i : i + 1])
    assert events == EXPECTED


def test_several_frames_per_chunk_and_trailing_garbage() -> None:
    decoder = FrameDecoder()
    events = decoder.events(STREAM[:40]) + decoder.events(STREAM[40:] + b"ets boot noise\r\n")
    assert events == EXPECTED
    assert decoder.pending == len(b"ets boot noise\r\n")


def test_corrupted_frame_is_skipped_and_next_one_decodes() -> None:
    bad = bytearray(FRAMES[1])
    bad[5] ^= 0x10
    events = FrameDecoder().events(FRAMES[0] + bytes(bad) + FRAMES[2])
    assert events[0] == EXPECTED[0]
    assert isinstance(events[1], Dropped)
    assert events[2] == EXPECTED[2]


def test_next_event_api() -> None:
    decoder = FrameDecoder()
    assert decoder.next_event() is NEED_DATA
    decoder.feed(FRAMES[0] + FRAMES[1])
    assert decoder.next_event() == EXPECTED[0]
    assert decoder.next_event() == EXPECTED[1]
    assert decoder.next_event() is NEED_DATA
    assert repr(NEED_DATA) == "NEED_DATA"


def test_canonical_float_widths() -> None:
    half = encode(Reading(0, 21.5), 0)
    single = encode(Reading(0, 0.10000000149011612), 0)
    double = encode(Reading(0, 0.1), 0)
    assert b"\xf9\x4d\x60" in cobs.decode(half[1:-1])
    assert b"\xfa\x3d\xcc\xcc\xcd" in cobs.decode(single[1:-1])
    assert b"\xfb" in cobs.decode(double[1:-1])
    assert FrameDecoder().events(double)[0] == Frame(0, Reading(0, 0.1))


def test_unknown_error_code_text_round_trip() -> None:
    assert FrameDecoder().events(encode(Error(200, "é"), 1)) == [Frame(1, Error(200, "é"))]


def test_command_float_arg_round_trip() -> None:
    assert FrameDecoder().events(encode(Command("setpoint", 20.1), 9)) == [
        Frame(9, Command("setpoint", 20.1))
    ]
