"""What forecasting costs a running hub: `hearth run` with 20 forecast streams next to the same hub without.

The hub is the idle benchmark's (20 simulated sensors at 1 Hz). With ``[prediction]`` it forecasts all
20 streams on a one-minute grid (one update per stream per minute, horizons 5, 15 and 60 minutes) after
learning from a day of history already in its readings file; without, the same hub and the same file.
Reports both hubs' share of a core and RSS over the same span (after a minute's start, which includes
learning the history) and the difference. With ``--models`` both hubs also run the two shipped models and a
BLE source (the idle benchmark's full hub): LiteRT needs NumPy, so there the feature's NumPy is already paid.

    python benchmarks/prediction_hub.py [--quick] [--models]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import report
from idle import MODELS_AND_BLE, hearth_run, hub_config, measure

PREDICTION = """[prediction]
streams = ["room*.temperature", "room*.humidity"]
step = "1m"
horizons = ["5m", "15m", "60m"]
history = "1d"
"""


def with_history(folder: Path, *, models: bool = False) -> Path:
    """The idle hub's config in ``folder`` with a day of minute readings of its 20 streams on file (and
    with ``models``, the shipped models and a BLE source with the demo's sensors adopted)."""
    from agent.demo import adopt_demo_ble
    from agent.readings import Reading, StreamInfo
    from agent.store.readings import open_readings

    config = hub_config(folder)
    (folder / "data").mkdir(exist_ok=True)
    store = open_readings(folder / "data")
    now = math.floor(time.time() / 60) * 60
    readings, declared = [], []
    for room in range(10):
        declared += [
            ("simulated", StreamInfo.of(f"room{room}", "temperature", "°C")),
            ("simulated", StreamInfo.of(f"room{room}", "humidity", "%")),
        ]
        for minute in range(24 * 60):
            ts = now - 86400 + minute * 60
            day = math.sin(2 * math.pi * minute / 1440)
            readings += [
                Reading(f"room{room}.temperature", ts, 20 + 2 * day + room / 10),
                Reading(f"room{room}.humidity", ts, 50 - 5 * day),
            ]
    store.write_batch(readings, declared)
    if models:
        adopt_demo_ble(store.conn)
        config.write_text(config.read_text() + MODELS_AND_BLE)
    store.close()
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a CI-sized run")
    parser.add_argument("--models", action="store_true", help="both hubs run the shipped models and BLE too")
    args = parser.parse_args()
    seconds = 30.0 if args.quick else 180.0
    # Learning a day of history for 20 streams (no saved state yet) takes the first tens of seconds;
    # that start is left out of both measurements, which are of the hub running on.
    warmup = 60.0
    with tempfile.TemporaryDirectory() as tmp:
        config = with_history(Path(tmp), models=args.models)
        plain_share, plain_rss = measure(hearth_run(config), warmup, seconds)
    with tempfile.TemporaryDirectory() as tmp:
        config = with_history(Path(tmp), models=args.models)
        config.write_text(config.read_text() + PREDICTION)
        share, rss = measure(hearth_run(config), warmup, seconds)
    if args.models:
        print("both hubs run the two shipped models (LiteRT, so NumPy too) and a BLE source")
    print(f"hub without [prediction]: {plain_share * 100:6.3f} % of a core, {plain_rss:5.1f} MB RSS")
    print(f"hub forecasting 20 streams at 1 update/min: {share * 100:6.3f} % of a core, {rss:5.1f} MB RSS")
    added = (share - plain_share) * 100
    print(f"added: {added:+.3f} % of a core, {rss - plain_rss:+.1f} MB RSS (targets <= 1 % and <= 10 MB)")
    print(f"(over {seconds:.0f} s each; one clock tick is {1 / seconds:.3f} % of a core)")
    report(
        "prediction_hub",
        share * 100,
        "% of a core (20 forecast streams" + (", models and BLE too)" if args.models else ")"),
        baseline=plain_share * 100,
        ratio=None,
        target="<= +1 % of a core, <= +10 MB RSS",
    )


if __name__ == "__main__":
    main()
