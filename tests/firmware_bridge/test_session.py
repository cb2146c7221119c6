"""The host's view of a board: identification, version refusal, counters."""

from __future__ import annotations

import cbor2
from cobs import cobs

from firmware_bridge import (
    Error,
    Frame,
    FrameDecoder,
    Hello,
    HelloRequest,
    HostSession,
    Reading,
    Sensor,
    VersionRefused,
    encode,
)

HELLO = Hello("uno-1", "1.0.0", 1, (Sensor("temperature", "°C"),))


def test_connect_sends_hello_request() -> None:
    session = HostSession()
    assert FrameDecoder().events(session.connect()) == [Frame(0, HelloRequest(1))]


def test_readings_before_hello_are_counted_not_delivered() -> None:
    session = HostSession()
    assert session.receive(encode(Reading(0, 1.0), 4)) == []
    assert session.stats["unidentified"] == 1
    assert session.receive(encode(HELLO, 0) + encode(Reading(0, 2.0), 1)) == [HELLO, Reading(0, 2.0)]
    assert session.hello == HELLO


def test_unknown_protocol_version_is_refused_with_an_error_reply() -> None:
    session = HostSession()
    future = Hello("uno-2", "9.0", 7, ())
    events = session.receive(encode(future, 0))
    assert len(events) == 1
    assert isinstance(events[0], VersionRefused)
    assert "speaks protocol 7, not 1" in str(events[0])
    assert session.hello is None
    assert session.stats["version_refused"] == 1
    reply = FrameDecoder().events(session.data_to_send())
    assert len(reply) == 1
    assert isinstance(reply[0], Frame)
    assert reply[0].message == Error(1, "protocol 7 is not supported; this host speaks 1", 0)
    assert session.data_to_send() == b""


def test_counters_match_faults() -> None:
    session = HostSession()
    good = [encode(Reading(0, float(i)), i) for i in range(1, 12)]
    corrupted = bytearray(good[2])
    corrupted[-3] ^= 0x55
    stream = (
        encode(HELLO, 0)
        + good[0]
        + good[1]
        + bytes(corrupted)  # seq 3: CRC error, then a gap of one
        + good[3]
        + b"ets Jan  8 2013,rst cause:2\r\n"  # boot noise: one resync
        + good[6]  # seqs 5 and 6 lost
        + b"\x00"
        + bytes(cobs.encode(b"\x05" * 600))
        + b"\x00"  # oversize
        + good[7]
    )
    messages = session.receive(stream)
    assert [m for m in messages if isinstance(m, Reading)] == [
        Reading(0, v) for v in (1.0, 2.0, 4.0, 7.0, 8.0)
    ]
    stats = session.stats
    assert stats["frames_ok"] == 6
    assert stats["crc_errors"] == 1
    assert stats["frames_lost"] == 3
    assert stats["resyncs"] == 2
    assert stats["oversize"] == 1


def test_board_reboot_hello_resets_sequence_tracking() -> None:
    session = HostSession()
    session.receive(encode(HELLO, 0) + encode(Reading(0, 1.0), 1) + encode(Reading(0, 1.0), 2))
    session.receive(encode(HELLO, 0) + encode(Reading(0, 1.0), 1))
    assert session.stats["frames_lost"] == 0


def test_bad_payload_counted_as_bad_frame() -> None:
    import struct
    import zlib

    head = struct.pack("<BH", 3, 1) + cbor2.dumps({0: 0})
    chunk = cobs.encode(head + struct.pack("<I", zlib.crc32(head)))
    session = HostSession()
    session.receive(b"\x00" + chunk + b"\x00")
    assert session.stats["bad_frames"] == 1


def test_command_sequence_numbers_advance() -> None:
    session = HostSession()
    session.connect()
    seq1, frame1 = session.command("toggle", 13)
    seq2, _ = session.command("toggle")
    assert (seq1, seq2) == (1, 2)
    events = FrameDecoder().events(frame1)
    assert isinstance(events[0], Frame)
    assert events[0].seq == 1
