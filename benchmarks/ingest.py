"""Ingest throughput: readings put on a source's sink → committed by the recorder.

Baseline, in the same run: raw ``sqlite3.executemany`` of the same rows into the same schema with
the same batch size and pragmas. Also reports bytes written per stored reading at a hub-like load
(20 sensors at 1 Hz) for several commit intervals, since SD cards wear with every byte.

    python benchmarks/ingest.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import bytes_written, report

from agent.pipeline.recorder import Recorder
from agent.readings import Reading, StreamInfo
from agent.store.readings import ReadingsStore, time_key
from agent.store.readings_schema import MIGRATIONS

STREAMS = 20
BATCH = 5000


def make_readings(count: int) -> list[Reading]:
    start = 1_700_000_000.0
    return [
        Reading(f"dev{i % STREAMS}.value", start + i * 0.001, float(i % 1000) * 0.5) for i in range(count)
    ]


def declarations() -> list[StreamInfo]:
    return [StreamInfo.of(f"dev{i}", "value", "V") for i in range(STREAMS)]


async def through_recorder(path: Path, readings: list[Reading]) -> float:
    store = ReadingsStore(path)
    recorder = Recorder(store, flush_interval=0.1, batch_size=BATCH, queue_size=4 * BATCH)
    sink = recorder.sink("bench", "simulated", "block")
    for info in declarations():
        sink.declare(info)
    await recorder.flush()
    done = asyncio.Event()
    recorder.on_commit.append(lambda _b: done.set() if recorder.committed >= len(readings) else None)
    task = asyncio.create_task(recorder.run())
    started = time.perf_counter()
    put = sink.put
    for reading in readings:
        await put(reading)
    await done.wait()
    elapsed = time.perf_counter() - started
    task.cancel()
    await recorder.close()
    assert store.count_readings() == len(readings)
    store.close()
    return len(readings) / elapsed


def raw_executemany(path: Path, readings: list[Reading]) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.executescript(MIGRATIONS[0])
    ids = {f"dev{i}.value": i + 1 for i in range(STREAMS)}
    rows = [(time_key(r.ts) | ids[r.stream], r.value, r.label) for r in readings]
    started = time.perf_counter()
    for offset in range(0, len(rows), BATCH):
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO readings (key, value, label) VALUES (?, ?, ?)",
            rows[offset : offset + BATCH],
        )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return len(readings) / elapsed


def bytes_per_reading(path: Path, commit_interval: float, seconds: int) -> float:
    """Bytes passed to write(2) per reading when 20 sensors at 1 Hz commit every ``commit_interval``."""
    store = ReadingsStore(path)
    store.write_batch([], [("simulated", info) for info in declarations()])
    per_commit = max(1, round(STREAMS * commit_interval))
    t = 1_700_000_000.0
    total = STREAMS * seconds
    before = bytes_written()
    written = 0
    while written < total:
        batch = []
        for _ in range(per_commit):
            batch.append(Reading(f"dev{written % STREAMS}.value", t + written / STREAMS, 21.5))
            written += 1
        store.write_batch(batch)
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    after = bytes_written()
    store.close()
    return (after - before) / written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a CI-sized run")
    args = parser.parse_args()
    count = 100_000 if args.quick else 1_000_000
    readings = make_readings(count)
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        base = raw_executemany(tmpdir / "raw.db", readings)
        ours = asyncio.run(through_recorder(tmpdir / "agent.db", readings))
        print(f"raw executemany baseline : {base:12,.0f} readings/s")
        print(f"sink -> recorder -> commit: {ours:12,.0f} readings/s  (ratio {ours / base:.2f})")
        seconds = 300 if args.quick else 3600
        for interval in (0.1, 1.0, 5.0):
            per = bytes_per_reading(tmpdir / f"wear-{interval}.db", interval, seconds)
            print(f"20 sensors at 1 Hz, commit every {interval:>4} s: {per:8.0f} bytes written per reading")
    report(
        "ingest", ours, "readings/s", baseline=base, ratio=ours / base, target=">= 250000 and ratio >= 0.5"
    )


if __name__ == "__main__":
    main()
