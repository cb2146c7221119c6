"""Idle cost and memory: the agent with 20 sensors at 1 Hz, as a real `hearth run` process.

Reports the share of one core the daemon uses (user + system CPU time over wall time) and its
resident memory at the end, next to a bare Python interpreter running an idle asyncio loop in the
same run (the floor any Python daemon pays); then the resident memory of the same hub with both
shipped models and a BLE source loaded.

    python benchmarks/idle.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import report

from tests.testbed.hub import climate_rooms, rss_mb

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def measure(
    argv: list[str], warmup: float, seconds: float, during: Callable[[], Any] | None = None
) -> tuple[float, float]:
    """Run ``argv``, skip ``warmup`` s, then return (share of a core, RSS MB) over ``seconds``.

    ``during`` is called once the process has started; what it returns, if not None, is closed at the end.
    """
    with subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as proc:
        try:
            context = during() if during else None
            time.sleep(warmup)
            cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
            time.sleep(seconds)
            cpu1, t1 = cpu_seconds(proc.pid), time.monotonic()
            rss = rss_mb(proc.pid)
            if context is not None:
                context.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    return (cpu1 - cpu0) / (t1 - t0), rss


def hearth_run(config: Path) -> list[str]:
    """The command line of ``hearth run`` with ``config``."""
    return [sys.executable, "-m", "agent", "run", "-c", str(config)]


def hub_config(folder: Path) -> Path:
    sources = climate_rooms(rate=1.0)
    path = folder / "hub.toml"
    path.write_text(
        f'[hub]\nid = "bench"\ndata_dir = "{folder / "data"}"\n[log]\nlevel = "warning"\n{sources}'
    )
    return path


# Both shipped models fed by their replayed test data, and a BLE source replaying the demo's three
# adopted sensors (BTHome, Xiaomi, RuuviTag): every parser library and the LiteRT runtime loaded.
MODELS_AND_BLE = """[[sources]]
kind = "simulated"
name = "wrist"
file = "builtin:wrist_imu_test.csv"
rate = 10.0
[[sources]]
kind = "simulated"
name = "smart_plug"
file = "builtin:smart_plug_test.csv"
rate = 292.0
[[sources]]
kind = "ble"
name = "ble"
simulate = true
[[models]]
name = "activity"
model = "builtin:activity"
inputs = { acc_x = "wrist.acc_x", acc_y = "wrist.acc_y", acc_z = "wrist.acc_z", \
gyro_x = "wrist.gyro_x", gyro_y = "wrist.gyro_y", gyro_z = "wrist.gyro_z" }
[[models]]
name = "appliance"
model = "builtin:appliance"
inputs = { power = "smart_plug.power" }
input_rate = 292.0
"""


def full_hub_config(folder: Path) -> Path:
    """The idle hub plus both models and a BLE source with the demo's sensors adopted."""
    from agent.demo import adopt_demo_ble
    from agent.store.readings import open_readings

    path = hub_config(folder)
    path.write_text(path.read_text() + MODELS_AND_BLE)
    store = open_readings(folder / "data")
    try:
        adopt_demo_ble(store.conn)
    finally:
        store.close()
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a CI-sized run")
    args = parser.parse_args()
    seconds = 10.0 if args.quick else 60.0
    with tempfile.TemporaryDirectory() as tmp:
        config = hub_config(Path(tmp))
        bare = [sys.executable, "-c", "import asyncio; asyncio.run(asyncio.sleep(3600))"]
        floor, floor_rss = measure(bare, 1.0, seconds)
        share, rss = measure(hearth_run(config), 3.0, seconds)
    print(f"bare asyncio interpreter : {floor * 100:6.2f} % of a core, {floor_rss:5.1f} MB RSS")
    with tempfile.TemporaryDirectory() as tmp:
        full = full_hub_config(Path(tmp))
        _share, full_rss = measure([sys.executable, "-m", "agent", "run", "-c", str(full)], 3.0, seconds / 2)
    print(f"agent, 20 sensors at 1 Hz: {share * 100:6.2f} % of a core, {rss:5.1f} MB RSS")
    print(f"same hub, both models + BLE (3 sensors): {full_rss:5.1f} MB RSS (contract <= 80 MB)")
    report("idle", share * 100, "% of a core", baseline=floor * 100, ratio=None, target="<= 1")


if __name__ == "__main__":
    main()
