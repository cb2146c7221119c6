"""The recorder: batching, acknowledgement, listeners, and each overflow policy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from agent.pipeline.recorder import Recorder
from agent.readings import Reading, StreamInfo
from agent.store.readings import ReadingsStore, open_readings
from tests.testbed.wait import eventually

POWER = StreamInfo.of("plug", "power", "W")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[ReadingsStore]:
    readings = open_readings(tmp_path)
    yield readings
    readings.close()


def readings(n: int, start: float = 1_700_000_000.0) -> list[Reading]:
    return [Reading(POWER.name, start + i, float(i)) for i in range(n)]


async def test_commits_by_count(store: ReadingsStore) -> None:
    recorder = Recorder(store, flush_interval=3600, batch_size=100, queue_size=1000)
    sink = recorder.sink("plug", "simulated", "block")
    sink.declare(POWER)
    acked: list[int] = []
    committed = asyncio.Event()
    recorder.on_commit.append(lambda batch: (acked.append(len(batch)), committed.set()))
    task = asyncio.create_task(recorder.run())
    for reading in readings(250):
        await sink.put(reading)
    await asyncio.wait_for(committed.wait(), 5)
    task.cancel()
    await recorder.close()
    # Two full batches by count, the remainder only at close (flush_interval is an hour).
    assert acked[:2] == [100, 100]
    assert sum(acked) == 250
    assert store.count_readings() == 250


async def test_commits_by_time(store: ReadingsStore) -> None:
    recorder = Recorder(store, flush_interval=0.05, batch_size=10_000)
    sink = recorder.sink("plug", "simulated", "block")
    sink.declare(POWER)
    committed = asyncio.Event()
    recorder.on_commit.append(lambda _b: committed.set())
    task = asyncio.create_task(recorder.run())
    for reading in readings(3):
        await sink.put(reading)
    await asyncio.wait_for(committed.wait(), 5)
    assert store.count_readings() == 3  # committed although far below batch_size
    task.cancel()
    await recorder.close()


async def test_listeners_see_readings_before_they_commit(store: ReadingsStore) -> None:
    recorder = Recorder(store, flush_interval=3600, batch_size=10_000)
    sink = recorder.sink("plug", "simulated", "block")
    sink.declare(POWER)
    seen: list[Reading] = []
    arrived = asyncio.Event()

    def listener(batch: Sequence[Reading]) -> None:
        seen.extend(batch)
        arrived.set()

    recorder.listeners.append(listener)
    task = asyncio.create_task(recorder.run())
    await sink.put(readings(1)[0])
    await asyncio.wait_for(arrived.wait(), 5)
    assert seen == readings(1)
    assert recorder.committed == 0
    task.cancel()
    await recorder.close()
    assert recorder.committed == 1


async def test_a_failing_listener_does_not_stop_recording(store: ReadingsStore) -> None:
    recorder = Recorder(store, flush_interval=0.01)
    sink = recorder.sink("plug", "simulated", "block")
    sink.declare(POWER)

    def broken(_batch: Sequence[Reading]) -> None:
        raise ValueError("listener bug")

    recorder.listeners.append(broken)
    for reading in readings(5):
        await sink.put(reading)
    await recorder.flush()
    assert store.count_readings() == 5


@pytest.mark.parametrize("grouped", [False, True], ids=["one-by-one", "put_all-by-3"])
@pytest.mark.parametrize(
    ("policy", "kept"),
    [("drop_oldest", [5.0, 6.0, 7.0, 8.0, 9.0]), ("drop_newest", [0.0, 1.0, 2.0, 3.0, 4.0])],
)
async def test_drop_policies_count_what_they_drop(
    store: ReadingsStore, policy: str, kept: list[float], grouped: bool
) -> None:
    recorder = Recorder(store)
    sink = recorder.sink("ble", "ble", policy, maxsize=5)  # type: ignore[arg-type]
    sink.declare(POWER)
    queued = readings(10)
    if grouped:
        for at in range(0, len(queued), 3):
            sink.put_all(queued[at : at + 3])
    else:
        for reading in queued:
            sink.put_nowait(reading)
    assert sink.dropped == 5
    assert sink.accepted == (10 if policy == "drop_oldest" else 5)
    await recorder.flush()
    values = [v for (v,) in store.conn.execute("SELECT value FROM readings ORDER BY key")]
    assert values == kept


async def test_block_policy_waits_for_room_and_loses_nothing(store: ReadingsStore) -> None:
    recorder = Recorder(store, flush_interval=0.01, batch_size=7)
    sink = recorder.sink("serial", "serial", "block", maxsize=3)
    sink.declare(POWER)
    producer_done = asyncio.Event()

    async def produce() -> None:
        for reading in readings(100):
            await sink.put(reading)
        producer_done.set()

    producer = asyncio.create_task(produce())
    await asyncio.sleep(0)
    assert not producer_done.is_set()  # the queue of 3 is full: the producer waits
    assert len(sink) == 3
    task = asyncio.create_task(recorder.run())
    await asyncio.wait_for(producer_done.wait(), 10)
    task.cancel()
    await recorder.close()
    await producer
    assert sink.dropped == 0
    assert store.count_readings() == 100


async def test_commit_retries_while_the_file_is_locked(tmp_path: Path, store: ReadingsStore) -> None:
    import sqlite3

    store.conn.execute("PRAGMA busy_timeout = 10")
    recorder = Recorder(store, flush_interval=0.01)
    sink = recorder.sink("plug", "simulated", "block")
    sink.declare(POWER)
    other = sqlite3.connect(tmp_path / "readings.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    task = asyncio.create_task(recorder.run())
    for reading in readings(10):
        await sink.put(reading)
    await eventually(lambda: recorder.commit_failures >= 2, "commit attempts on the locked file")
    assert recorder.committed == 0
    other.execute("COMMIT")
    other.close()
    await eventually(lambda: recorder.committed == 10, "the commit after the lock is released")
    task.cancel()
    await recorder.close()
    assert store.count_readings() == 10
