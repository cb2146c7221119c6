"""SIGKILL at random moments never corrupts the readings file or loses an acknowledged reading."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.conftest import REPO

WRITER = Path(__file__).with_name("crash_writer.py")
TRIALS = 20


def _kill_at_random(data_dir: Path, start: int, rng: random.Random) -> int:
    """Run the writer, SIGKILL it at a random moment; return the last number it reported committed."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    reported: list[int] = []
    first = threading.Event()
    with subprocess.Popen(
        [sys.executable, str(WRITER), str(data_dir), str(start)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    ) as proc:

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                reported.append(int(line))
                first.set()

        reader = threading.Thread(target=read)
        reader.start()
        started = first.wait(30)
        if started:
            time.sleep(rng.uniform(0.0, 0.4))  # the random moment of the crash, not synchronisation
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        reader.join(10)
    assert started, "the writer never committed a batch"
    assert proc.returncode == -signal.SIGKILL
    return reported[-1]


def test_sigkill_loses_no_acknowledged_reading(tmp_path: Path) -> None:
    seed = random.randrange(1 << 30)
    print(f"crash-safety seed {seed}")
    rng = random.Random(seed)
    data_dir = tmp_path / "data"
    start = 0
    for trial in range(TRIALS):
        acknowledged = _kill_at_random(data_dir, start, rng)
        conn = sqlite3.connect(data_dir / "readings.db")
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok", f"trial {trial}"
        present = {int(v) for (v,) in conn.execute("SELECT value FROM readings WHERE value >= ?", (start,))}
        conn.close()
        missing = set(range(start, acknowledged + 1)) - present
        assert not missing, f"trial {trial} (seed {seed}): {len(missing)} acknowledged readings lost"
        # The next run continues after everything that reached the file, acknowledged or not.
        start = max(present) + 1
