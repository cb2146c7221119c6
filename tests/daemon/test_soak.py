"""Memory, descriptors, threads and the WAL stay flat while a real `hearth run` records from 20 sensors.

This is the real process at a high rate on the real clock; `test_compressed_soak.py` runs days of a hub's
life (retention, rollups, summaries upstream) on a fast clock. Short form by default; the full soak runs
for ten minutes: `scripts/test -m slow tests/daemon/test_soak.py`.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.testbed.hub import climate_rooms, open_fds, rss_mb, threads
from tests.testbed.wait import wait_until


@dataclass
class Soaked:
    """RSS, descriptors and threads after the warm-up and at their highest since, the largest WAL seen."""

    start: float
    peak: float
    fds: tuple[int, int]
    threads: tuple[int, int]
    wal: int
    returncode: int

    def check(self) -> None:
        print(
            f"RSS {self.start:.1f} MB after warm-up, peak {self.peak:.1f} MB; descriptors {self.fds},"
            f" threads {self.threads} (after warm-up, highest); largest WAL {self.wal / 2**20:.1f} MB"
        )
        assert self.returncode == 0
        assert self.peak - self.start < 5.0
        assert self.peak < 80.0
        # A descriptor or a lazily started worker thread may be open at one sample; a leak keeps growing.
        assert self.fds[1] <= self.fds[0] + 2
        assert self.threads[1] <= self.threads[0] + 2
        # SQLite checkpoints at 1,000 pages (4 MB) and then writes the WAL from its start again.
        assert self.wal <= 16 * 2**20


def _soak(tmp_path: Path, seconds: float, rate: float) -> Soaked:
    sources = climate_rooms(rate)
    config = tmp_path / "hub.toml"
    config.write_text(
        f'[hub]\nid = "soak"\ndata_dir = "{tmp_path / "data"}"\n'
        f'[store.retention]\nraw = "1h"\n[log]\nlevel = "warning"\n{sources}'
    )
    db = tmp_path / "data" / "readings.db"
    with (
        (tmp_path / "agent.log").open("w") as log,
        subprocess.Popen(
            [sys.executable, "-m", "agent", "run", "-c", str(config)], cwd=REPO, stderr=log
        ) as proc,
    ):
        wait_until(db.exists, "the readings file")
        time.sleep(min(10.0, seconds / 3))  # warm-up: caches, first batches, allocator arenas
        start, fds, tasks = rss_mb(proc.pid), open_fds(proc.pid), threads(proc.pid)
        peak, most_fds, most_tasks, wal = start, fds, tasks, 0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(1.0)
            peak = max(peak, rss_mb(proc.pid))
            most_fds = max(most_fds, open_fds(proc.pid))
            most_tasks = max(most_tasks, threads(proc.pid))
            with contextlib.suppress(FileNotFoundError):
                wal = max(wal, (db.parent / "readings.db-wal").stat().st_size)
        proc.send_signal(signal.SIGTERM)
        returncode = proc.wait(30)
    return Soaked(start, peak, (fds, most_fds), (tasks, most_tasks), wal, returncode)


def test_memory_is_flat_short(tmp_path: Path) -> None:
    print("15 s at 1,000 readings/s")
    _soak(tmp_path, seconds=15, rate=50.0).check()


@pytest.mark.slow
@pytest.mark.timeout(900)  # ten minutes of soak; the suite's 120 s limit would stop it
def test_memory_is_flat_over_ten_minutes(tmp_path: Path) -> None:
    print("600 s at 1,000 readings/s")
    _soak(tmp_path, seconds=600, rate=50.0).check()
