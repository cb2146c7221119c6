"""A power cut costs the readings file at most its ``sync_interval``; erasures always survive."""

from __future__ import annotations

import contextlib
import sqlite3

from agent.readings import Reading, StreamInfo
from agent.store.readings import ReadingsStore
from tests.testbed.lazyfs import LazyMount

T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _surviving(rig: LazyMount, store: ReadingsStore) -> list[float]:
    rig.freeze()
    with contextlib.suppress(sqlite3.Error):
        store.close()
    rig.unmount()
    rig.mount()
    conn = sqlite3.connect(store.path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return [ts for (ts,) in conn.execute("SELECT ts FROM readings ORDER BY key")]
    finally:
        conn.close()


def test_a_cut_loses_at_most_the_sync_interval(rig: LazyMount) -> None:
    clock = Clock()
    store = ReadingsStore(rig.mountpoint / "readings.db", sync_interval=10.0, clock=clock)
    store.write_batch([], [("simulated", StreamInfo.of("room", "temperature", "C"))])
    for second in range(1, 96):
        clock.now = second
        store.write_batch([Reading("room.temperature", T0 + second, 20.0)])
    stamps = _surviving(rig, store)
    assert store.synced_commits == 9  # the commits at 10, 20 ... 90 s ran with synchronous=FULL
    assert stamps == [T0 + s for s in range(1, 91)]  # second 90 was the last synced commit


def test_forgetting_survives_a_cut(rig: LazyMount) -> None:
    clock = Clock()
    store = ReadingsStore(rig.mountpoint / "readings.db", sync_interval=3600.0, clock=clock)
    store.write_batch(
        [Reading("room.temperature", T0 + s, 20.0) for s in range(5)],
        [("simulated", StreamInfo.of("room", "temperature", "C"))],
    )
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the readings are on the disk
    assert store.forget_device("room") == 5
    assert _surviving(rig, store) == []


def test_a_pass_that_changes_nothing_does_not_count_as_a_sync(rig: LazyMount) -> None:
    clock = Clock()
    store = ReadingsStore(rig.mountpoint / "readings.db", sync_interval=10.0, clock=clock)
    store.write_batch([], [("simulated", StreamInfo.of("room", "temperature", "C"))])
    for second in range(1, 36):
        clock.now = second
        # A retention pass every second with nothing to roll up, as a hub with fresh data runs it.
        store.apply_retention(now=T0 + second, raw_s=86400, minute_s=86400, hour_s=86400)
        store.write_batch([Reading("room.temperature", T0 + second, 20.0)])
    assert _surviving(rig, store) == [T0 + s for s in range(1, 31)]
