"""The board link both bridge transports share (serial, BLE's Nordic UART): bytes in, readings out."""

from __future__ import annotations

import pytest

from agent.errors import BoardCommandError
from agent.readings import Reading, StreamInfo
from agent.sources.board_link import BoardLink, Received
from firmware_bridge import (
    Ack,
    Command,
    Error,
    Frame,
    FrameDecoder,
    Hello,
    HelloRequest,
    Readings,
    Sensor,
    encode,
)
from firmware_bridge.messages import Message
from tests.testbed.golden import GOLDEN

NOW = 1_000_000.0
TEMPERATURE = StreamInfo("board.temperature", "board", "temperature", "°C")
HUMIDITY = StreamInfo("board.humidity", "board", "humidity", "%")


def receive(link: BoardLink, data: bytes, *, chunked: bool = False) -> Received:
    """Feed ``data`` whole or byte by byte; the chunks' results joined into one."""
    parts = [data[i : i + 1] for i in range(len(data))] if chunked else [data]
    got = Received([], [], [], None, None)
    for part in parts:
        one = link.receive(part, NOW)
        got.declared.extend(one.declared)
        got.readings.extend(one.readings)
        got.acks.extend(one.acks)
        got = got._replace(hello=one.hello or got.hello, refused=one.refused or got.refused)
    return got


def values(readings: list[Reading]) -> list[tuple[str, float]]:
    return [(r.stream, r.value) for r in readings]


def messages(data: bytes) -> list[Message]:
    events = FrameDecoder().events(data)
    assert all(isinstance(e, Frame) for e in events)
    return [e.message for e in events if isinstance(e, Frame)]


@pytest.mark.parametrize("chunked", [False, True], ids=["whole", "byte-by-byte"])
def test_framed_golden_frames_become_readings_of_the_hellos_streams(chunked: bool) -> None:
    link = BoardLink("board")
    assert link.connect() == GOLDEN["hello_request"]
    names = ("reading_half_float", "hello", "reading_half_float", "reading_single_float", "readings_batch")
    got = receive(link, b"".join(GOLDEN[name] for name in names), chunked=chunked)
    assert got.declared == [TEMPERATURE, HUMIDITY]
    assert values(got.readings) == [
        ("board.temperature", 21.5),
        ("board.humidity", pytest.approx(0.1)),
        ("board.temperature", 21.5),
        ("board.humidity", 40.25),
        ("board.temperature", 21.75),
        ("board.humidity", -3.0),
    ]
    assert got.hello is not None
    assert link.hello == link.board == got.hello
    assert got.hello.board_id == "esp32-a1b2c3"
    # the reading before HELLO is not anybody's: counted, not returned
    assert link.stats["unidentified"] == 1
    assert link.stats["frames_ok"] == 5
    # readings_batch is seq 4 right after seq 2: the board's seq 3 was lost on the way
    assert link.stats["frames_lost"] == 1
    assert link.data_to_send() == b""


def test_each_streams_timestamps_increase_though_the_board_ages_values() -> None:
    link = BoardLink("board")
    link.connect()
    got = link.receive(GOLDEN["hello"] + GOLDEN["readings_batch"], NOW)
    temperature = [r.ts for r in got.readings if r.stream == "board.temperature"]
    humidity = [r.ts for r in got.readings if r.stream == "board.humidity"]
    # 21.75 was taken 1 s before it was sent, after the 21.5 sent with no age: both are kept
    assert temperature == [NOW, NOW + 0.001]
    assert humidity == [NOW, NOW + 0.001]
    later = link.receive(encode(Readings(((1, 41.0, 70_000),)), 5), NOW + 10)
    assert [r.ts for r in later.readings] == [NOW + 0.002]  # never before the stream's last value


def test_a_hello_in_the_middle_of_a_chunk_maps_only_the_values_after_it() -> None:
    link = BoardLink("board")
    link.connect()
    other = Hello("esp32-a1b2c3", "1.1.0", 1, (Sensor("pressure", "hPa"),))
    data = (
        GOLDEN["hello"]
        + encode(Readings(((0, 21.5, 0),)), 1)
        + encode(other, 2)
        + encode(Readings(((0, 1013.0, 0),)), 3)
    )
    got = link.receive(data, NOW)
    assert values(got.readings) == [("board.temperature", 21.5), ("board.pressure", 1013.0)]
    assert got.declared == [TEMPERATURE, HUMIDITY, StreamInfo("board.pressure", "board", "pressure", "hPa")]
    assert got.hello == link.hello == other


def test_framed_counts_damage_resyncs_and_sensors_hello_did_not_announce() -> None:
    link = BoardLink("board")
    link.connect()
    link.receive(GOLDEN["hello"], NOW)
    stream = GOLDEN["bad_crc"] + b"boot noise\r\n\x00" + GOLDEN["reading_big_int"] + GOLDEN["reading_zero"]
    got = receive(link, stream, chunked=True)
    assert values(got.readings) == [("board.temperature", 0.0)]  # seq 300's sensor 2 is not in HELLO
    assert link.stats["crc_errors"] == 1
    assert link.stats["resyncs"] == 1
    assert link.stats["unknown_sensor"] == 1
    # seq 300 after HELLO's 0 means 299 frames never arrived (the damaged one among them); 65535
    # after 300 is more than half the sequence space ahead, which counts as a restart, not a loss
    assert link.stats["frames_lost"] == 299
    assert link.stats["frames_ok"] == 3


def test_a_future_protocol_is_refused_with_an_error_reply_and_takes_no_commands() -> None:
    link = BoardLink("board")
    link.connect()
    got = link.receive(GOLDEN["hello_future_version"] + GOLDEN["reading_half_float"], NOW)
    assert got.refused is not None
    assert "speaks protocol 7, not 1" in str(got.refused)
    assert (got.readings, got.declared, link.hello, link.identified) == ([], [], None, False)
    assert link.stats["version_refused"] == 1
    (reply,) = messages(link.data_to_send())
    assert isinstance(reply, Error)
    assert (reply.code, reply.ref) == (1, 0)
    with pytest.raises(BoardCommandError, match="board board is not connected"):
        link.command("led", "on")


def test_commands_are_framed_with_fresh_seqs_and_sent_when_asked() -> None:
    link = BoardLink("board")
    link.connect()
    link.receive(GOLDEN["hello"], NOW)
    seq, frame = link.command("led", "on")
    assert seq == 1  # HELLO_REQUEST took 0
    assert link.data_to_send() == b""  # framed, not sent until asked
    link.send(frame)
    link.send(frame)  # a resend is the same frame, same seq
    assert messages(link.data_to_send()) == [Command("led", "on")] * 2
    assert link.data_to_send() == b""
    assert link.command("led", "off")[0] == 2


def test_acks_are_handed_over_and_a_lost_links_commands_are_forgotten() -> None:
    link = BoardLink("board")
    link.connect()
    got = link.receive(
        GOLDEN["hello"] + encode(Ack(1, 0, "on"), 1) + encode(Ack(2, 2, "no such command"), 2), NOW
    )
    assert got.acks == [Ack(1, 0, "on"), Ack(2, 2, "no such command")]
    assert (link.stats["commands_acked"], link.stats["commands_refused"]) == (1, 1)
    _seq, frame = link.command("toggle")
    link.send(frame)
    link.connect()  # the link dropped before the frame went out: its sender was told so
    assert messages(link.data_to_send()) == []


def test_a_reconnect_starts_a_new_handshake_declares_again_and_keeps_the_counters() -> None:
    link = BoardLink("board")
    link.connect()
    link.receive(GOLDEN["hello"] + GOLDEN["reading_half_float"][:5], NOW)
    assert messages(link.connect()) == [HelloRequest(1)]
    assert link.hello is None
    assert link.board is not None  # who was on the link is still known
    got = link.receive(GOLDEN["reading_half_float"], NOW)
    assert got.readings == []  # a partial frame was forgotten; no HELLO yet
    assert link.stats["frames_ok"] == 2
    assert link.stats["unidentified"] == 1
    # the sink may be a new one: the same HELLO declares its streams again
    assert link.receive(GOLDEN["hello"], NOW).declared == [TEMPERATURE, HUMIDITY]


@pytest.mark.parametrize("chunked", [False, True], ids=["whole", "byte-by-byte"])
def test_text_mode_reads_lines_declares_each_stream_once_and_counts_bad_lines(chunked: bool) -> None:
    link = BoardLink("board", "text")
    assert link.connect() == b""
    assert link.identified
    data = b"temp[\xc2\xb0C]=21.5, hum=40\r\n# booted\nx=oops\n" + b"a=1 " * 100 + b"\nlux=7\ntemp=22\n"
    got = receive(link, data, chunked=chunked)
    assert values(got.readings) == [
        ("board.temp", 21.5),
        ("board.hum", 40.0),
        ("board.lux", 7.0),
        ("board.temp", 22.0),
    ]
    assert got.declared == [
        StreamInfo("board.temp", "board", "temp", "°C"),
        StreamInfo("board.hum", "board", "hum", ""),
        StreamInfo("board.lux", "board", "lux", ""),
    ]
    assert [r.ts for r in got.readings if r.stream == "board.temp"] == [NOW, NOW + 0.001]
    assert link.stats == {"text_lines": 3, "text_errors": 2}
    assert link.data_to_send() == b""
    link.connect()
    assert link.receive(b"lux=8\n", NOW).declared == [StreamInfo("board.lux", "board", "lux", "")]


def test_text_mode_takes_no_commands() -> None:
    link = BoardLink("lamp", "text")
    link.connect()
    with pytest.raises(BoardCommandError, match="board lamp is in text mode, which takes no commands"):
        link.command("toggle")
