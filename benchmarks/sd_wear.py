"""SD-card wear and power-cut loss of the readings file, per ``store.sync_interval``, on the power-cut rig.

A hub-like load: 20 sensors at 1 Hz committed once a second, source health written every 5 s, on the
FUSE rig (tests/testbed/lazyfs.py), which counts the 4 KiB pages that reach the disk and the fsyncs.
The kernel's flusher is played every 30 simulated seconds (dirty data reaches the disk without an
fsync, as with Linux's default ``dirty_expire_centisecs``); the store's clock is simulated, so an hour
takes seconds. At the end, 17 s past a whole minute, the power is cut (no flusher pass since the last
one) and the seconds of readings that did not survive are counted.

Baseline, in the same run: the same load with the store never syncing (SQLite's own checkpoints only,
as before ``sync_interval`` existed). Needs root and /dev/fuse.

    python benchmarks/sd_wear.py [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import report

from agent.readings import Reading, StreamInfo
from agent.store.readings import ReadingsStore
from tests.testbed.lazyfs import LazyMount

SENSORS = 20
HEALTH_EVERY = 5
FLUSHER_EVERY = 30
DEFAULT = 10.0  # the shipped store.sync_interval
SETTINGS: list[float | None] = [None, 300.0, 60.0, 30.0, 10.0, 0.0]


class SimClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run(root: Path, sync_interval: float | None, seconds: int) -> dict[str, float]:
    """Run the load for ``seconds`` simulated seconds, cut the power; the figures."""
    rig = LazyMount(root)
    rig.mount()
    data = rig.mountpoint / "data"
    clock = SimClock()
    store = ReadingsStore(data / "readings.db", sync_interval=sync_interval, clock=clock)
    infos = [StreamInfo.of(f"room{i // 2}", ("temperature", "humidity")[i % 2], "C") for i in range(SENSORS)]
    store.write_batch([], [("simulated", info) for info in infos])
    health = [
        {"name": f"room{i}", "kind": "simulated", "state": "running", "restarts": 0, "accepted": 0,
         "dropped": 0, "last_error": None}
        for i in range(SENSORS // 2)
    ]  # fmt: skip
    start = rig.writeback()
    t0 = 1_800_000_000.0
    for second in range(1, seconds + 1):
        clock.now = float(second)
        store.write_batch([Reading(info.name, t0 + second, 21.5 + second % 7) for info in infos])
        if second % HEALTH_EVERY == 0:
            store.write_health(health)
        if second % FLUSHER_EVERY == 0 and second < seconds:
            rig.writeback()
    end = rig.freeze()
    with contextlib.suppress(sqlite3.Error):
        store.close()
    rig.unmount()
    rig.mount()
    conn = sqlite3.connect(data / "readings.db")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        survived = conn.execute("SELECT count(*) FROM readings").fetchone()[0]
    except sqlite3.OperationalError:
        survived = 0  # not even the schema reached the disk
    finally:
        conn.close()
    rig.unmount()
    readings = seconds * SENSORS
    hours = seconds / 3600
    return {
        "bytes_per_reading": (end["bytes_to_disk"] - start["bytes_to_disk"]) / readings,
        "write_bytes_per_reading": (end["write_bytes"] - start["write_bytes"]) / readings,
        "fsyncs_per_hour": (end["fsync_calls"] - start["fsync_calls"]) / hours,
        "lost_s": (readings - survived) / SENSORS,
    }


def label(setting: float | None) -> str:
    if setting is None:
        return "never (SQLite checkpoints only)"
    return "every commit" if setting == 0 else f"{setting:g} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a CI-sized run (10 simulated minutes)")
    args = parser.parse_args()
    seconds = (600 if args.quick else 3600) + 17
    results: dict[float | None, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, setting in enumerate(SETTINGS):
            results[setting] = figures = run(Path(tmp) / f"run{i}", setting, seconds)
            print(
                f"sync_interval {label(setting):>31}: {figures['bytes_per_reading']:7.0f} bytes to the card"
                f" per reading ({figures['write_bytes_per_reading']:.0f} passed to write(2)),"
                f" {figures['fsyncs_per_hour']:6.0f} fsyncs/h,"
                f" lost at the cut: {figures['lost_s']:.0f} s of readings"
            )
    ours = results[DEFAULT]["bytes_per_reading"]
    base = results[None]["bytes_per_reading"]
    report("sd_wear", ours, "bytes/reading", baseline=base, ratio=ours / base, target="<= 1.5")


if __name__ == "__main__":
    main()
