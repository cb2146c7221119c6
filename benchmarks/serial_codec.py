"""Decoded readings per second through the firmware bridge codec, with batched READINGS frames.

Baseline, measured in the same run: bare ``cbor2.loads`` of the same payloads (no COBS, no CRC, no
validation): the floor the codec's own work is compared against. Run: python benchmarks/serial_codec.py
"""

from __future__ import annotations

import argparse
import random
import struct
import sys
import time
from pathlib import Path

import cbor2
from cobs import cobs

from firmware_bridge import FrameDecoder, HostSession, Readings, encode
from firmware_bridge.codec import Frame

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import report

ENTRIES_PER_FRAME = 40
F32 = struct.Struct("<f")
CHUNK = 4096


def make_stream(frames: int) -> tuple[bytes, list[bytes], int]:
    """Wire bytes of ``frames`` READINGS frames, their CBOR payloads, and the readings they hold."""
    rng = random.Random(7)
    wire = bytearray()
    payloads = []
    for seq in range(frames):
        # Boards measure in float32: the values travel as 4-byte CBOR floats.
        entries = tuple(
            (i % 4, F32.unpack(F32.pack(rng.uniform(-20, 40)))[0], rng.randrange(0, 5000))
            for i in range(ENTRIES_PER_FRAME)
        )
        frame = encode(Readings(entries), seq)
        wire += frame
        payloads.append(cobs.decode(frame[1:-1])[3:-4])
    return bytes(wire), payloads, frames * ENTRIES_PER_FRAME


def best_of(repeats: int, fn: object) -> float:
    """The fastest of ``repeats`` runs of ``fn`` in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a CI-sized run")
    args = parser.parse_args()
    frames, repeats = (500, 3) if args.quick else (5000, 5)
    wire, payloads, readings = make_stream(frames)
    chunks = [wire[i : i + CHUNK] for i in range(0, len(wire), CHUNK)]

    def codec() -> None:
        decoder = FrameDecoder()
        count = 0
        for chunk in chunks:
            for event in decoder.events(chunk):
                if type(event) is Frame:
                    count += len(event.message.entries)  # type: ignore[union-attr]
        assert count == readings, count

    def session() -> None:
        host = HostSession()
        for chunk in chunks:
            host.receive(chunk)

    def baseline() -> None:
        loads = cbor2.loads
        for payload in payloads:
            loads(payload)

    codec_s = best_of(repeats, codec)
    session_s = best_of(repeats, session)
    baseline_s = best_of(repeats, baseline)
    value = readings / codec_s
    base = readings / baseline_s
    print(f"{frames} READINGS frames x {ENTRIES_PER_FRAME} entries, {len(wire) / frames:.0f} bytes/frame")
    print(f"codec (COBS + CRC-32 + CBOR + validation): {value:,.0f} readings/s")
    print(f"host session (codec + sequence tracking):  {readings / session_s:,.0f} readings/s")
    print(f"baseline bare cbor2.loads of the payloads: {base:,.0f} readings/s")
    report(
        "serial_codec",
        round(value),
        "readings/s",
        baseline=round(base),
        ratio=round(value / base, 2),
        target=">= 200000",
    )


if __name__ == "__main__":
    main()
