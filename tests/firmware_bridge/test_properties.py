"""Properties of the streaming decoder under arbitrary input, and a seeded fuzz loop."""

from __future__ import annotations

import os
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge import (
    Ack,
    Command,
    Dropped,
    Error,
    Frame,
    FrameDecoder,
    Hello,
    HostSession,
    Log,
    Message,
    Reading,
    Readings,
    Sensor,
    TextDecoder,
    encode,
)

names = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True)
texts = st.text(max_size=40)
values = st.one_of(st.integers(-(2**31), 2**31), st.floats(allow_nan=False, allow_infinity=False, width=32))
messages: st.SearchStrategy[Message] = st.one_of(
    st.builds(Reading, st.integers(0, 255), values),
    st.builds(
        Readings,
        st.lists(
            st.tuples(st.integers(0, 255), values, st.integers(0, 2**32 - 1)), min_size=1, max_size=20
        ).map(tuple),
    ),
    st.builds(
        Hello,
        st.text(min_size=1, max_size=20),
        st.text(max_size=10),
        st.integers(0, 10),
        st.lists(st.builds(Sensor, names, st.text(max_size=5)), max_size=5).map(tuple),
    ),
    st.builds(Command, names, st.one_of(st.none(), st.integers(-100, 100), st.text(max_size=10))),
    st.builds(Ack, st.integers(0, 65535), st.integers(0, 255), texts),
    st.builds(Log, st.integers(0, 3), texts),
    st.builds(Error, st.integers(0, 255), texts, st.one_of(st.none(), st.integers(0, 65535))),
)


def feed_in_pieces(decoder: FrameDecoder, data: bytes, cuts: list[int]) -> list[Frame | Dropped]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    events: list[Frame | Dropped] = []
    start = 0
    for point in [*points, len(data)]:
        events += decoder.events(data[start:point])
        start = point
    return events


@given(st.binary(max_size=2000), st.lists(st.integers(0, 4000), max_size=20))
def test_any_bytes_in_any_split_never_raise(data: bytes, cuts: list[int]) -> None:
    events = feed_in_pieces(FrameDecoder(), data, cuts)
    assert all(isinstance(e, Frame | Dropped) for e in events)
    session = HostSession()
    session.receive(data)
    TextDecoder().events(data)


@given(st.lists(st.tuples(st.binary(max_size=60), messages), min_size=1, max_size=8), st.lists(st.integers()))
def test_valid_frames_embedded_in_garbage_are_all_recovered(
    pieces: list[tuple[bytes, Message]], cuts: list[int]
) -> None:
    stream = b"".join(garbage + encode(message, seq) for seq, (garbage, message) in enumerate(pieces))
    events = feed_in_pieces(FrameDecoder(), stream + b"trailing", cuts)
    frames = [e for e in events if isinstance(e, Frame)]
    assert frames == [Frame(seq, message) for seq, (_, message) in enumerate(pieces)]


@given(st.lists(messages, min_size=2, max_size=6), st.data())
def test_a_corrupted_frame_is_counted_and_skipped(frames: list[Message], data: st.DataObject) -> None:
    victim = data.draw(st.integers(0, len(frames) - 1))
    wires = [bytearray(encode(m, seq)) for seq, m in enumerate(frames)]
    position = data.draw(st.integers(1, len(wires[victim]) - 2))
    flip = data.draw(st.integers(1, 255))
    wires[victim][position] ^= flip
    events = FrameDecoder().events(b"".join(bytes(w) for w in wires))
    good = [e for e in events if isinstance(e, Frame)]
    dropped = [e for e in events if isinstance(e, Dropped)]
    expected = [Frame(seq, m) for seq, m in enumerate(frames) if seq != victim]
    assert good == expected
    assert len(dropped) >= 1
    session = HostSession()
    session.receive(b"".join(bytes(w) for w in wires))
    counted = sum(
        session.stats[k] for k in ("crc_errors", "resyncs", "bad_frames")
    )  # oversize is also a resync
    assert counted == len(dropped)


@given(messages, st.integers(0, 65535))
def test_round_trip_property(message: Message, seq: int) -> None:
    assert FrameDecoder().events(encode(message, seq)) == [Frame(seq, message)]


@settings(max_examples=50)
@given(st.integers(0, 65535), st.lists(st.integers(1, 20), max_size=10))
def test_sequence_gaps_are_counted(start: int, gaps: list[int]) -> None:
    session = HostSession()
    stream = encode(Hello("b", "1", 1, (Sensor("t"),)), start)
    seq = start
    lost = 0
    for gap in gaps:
        seq = (seq + gap) % 65536
        lost += gap - 1
        stream += encode(Reading(0, 1.0), seq)
    session.receive(stream)
    assert session.stats["frames_lost"] == lost


def test_seeded_fuzz_loop() -> None:
    seed = int(os.environ.get("HEARTH_FUZZ_SEED", random.randrange(2**32)))
    print(f"fuzz seed: {seed} (rerun with HEARTH_FUZZ_SEED={seed})")
    rng = random.Random(seed)
    valid = [encode(Reading(i % 4, float(i)), i) for i in range(50)]
    for _ in range(300):
        stream = bytearray(b"".join(rng.sample(valid, 10)))
        for _ in range(rng.randrange(0, 8)):
            action = rng.randrange(3)
            where = rng.randrange(len(stream))
            if action == 0:
                stream[where] = rng.randrange(256)
            elif action == 1:
                del stream[where]
            else:
                stream[where:where] = rng.randbytes(rng.randrange(1, 30))
        decoder = FrameDecoder()
        session = HostSession()
        position = 0
        while position < len(stream):
            step = rng.randrange(1, 64)
            for event in decoder.events(bytes(stream[position : position + step])):
                assert isinstance(event, Frame | Dropped)
            session.receive(bytes(stream[position : position + step]))
            position += step
