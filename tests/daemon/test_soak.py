"""Memory stays flat while a real `hearth run` records from 20 sensors (short form by default).

The full soak runs for ten minutes: `scripts/test -m slow tests/daemon/test_soak.py`.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.testbed.hub import climate_rooms, rss_mb
from tests.testbed.wait import wait_until


def _soak(tmp_path: Path, seconds: float, rate: float) -> tuple[float, float, int]:
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
        start = rss_mb(proc.pid)
        peak = start
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(1.0)
            peak = max(peak, rss_mb(proc.pid))
        proc.send_signal(signal.SIGTERM)
        returncode = proc.wait(30)
    return start, peak, returncode


def test_memory_is_flat_short(tmp_path: Path) -> None:
    start, peak, returncode = _soak(tmp_path, seconds=15, rate=50.0)
    print(f"RSS {start:.1f} MB after warm-up, peak {peak:.1f} MB over 15 s at 1,000 readings/s")
    assert returncode == 0
    assert peak - start < 5.0
    assert peak < 80.0


@pytest.mark.slow
def test_memory_is_flat_over_ten_minutes(tmp_path: Path) -> None:
    start, peak, returncode = _soak(tmp_path, seconds=600, rate=50.0)
    print(f"RSS {start:.1f} MB after warm-up, peak {peak:.1f} MB over 600 s at 1,000 readings/s")
    assert returncode == 0
    assert peak - start < 5.0
    assert peak < 80.0
