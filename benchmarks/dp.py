"""Differentially private window means: their error against epsilon, and what a release costs.

Data: the demo's climate sensor (agent/sources/sim_data/climate.csv, recorded-like temperature and
humidity), cut into windows of 60 readings as a `summary:1m` grant at 1 Hz would see them. For each
epsilon per release (Laplace, bounds 0..40 °C and 0..100 %), the mean absolute error of the released
mean against the true window mean, over every window, repeated. Cost: microseconds per release, next to
the plain summary path (the window's count/mean/min/max made into the message body) in the same run; and
the whole summariser pass per window (readings file → consent gate → outbox rows, and for the noised grant
the budget debit, in real SQLite files) for a noised grant next to a plain one over the same readings.

Run: ``python benchmarks/dp.py`` (``--quick``: fewer repeats). Needs the ``dev`` extra (OpenDP).
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from agent.consent.dp import DpPolicy, NoisySummary
from agent.sync.summaries import summary_bodies

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import report

CLIMATE = Path(__file__).resolve().parent.parent / "agent" / "sources" / "sim_data" / "climate.csv"
WINDOW = 60
EPSILONS = (0.1, 0.5, 1.0, 2.0, 5.0)
BOUNDS = {"temperature": (0.0, 40.0), "humidity": (0.0, 100.0)}


def windows() -> dict[str, list[list[float]]]:
    """The climate file's columns cut into windows of ``WINDOW`` readings."""
    with CLIMATE.open(newline="") as f:
        rows = list(csv.reader(f))
    columns = {"temperature": [float(r[0]) for r in rows[1:]], "humidity": [float(r[1]) for r in rows[1:]]}
    return {
        name: [values[i : i + WINDOW] for i in range(0, len(values) - WINDOW + 1, WINDOW)]
        for name, values in columns.items()
    }


def plain(window: list[float]) -> list[dict[str, object]]:
    """The summary path a grant without DP takes for one window."""
    return summary_bodies([(0, len(window), statistics.fmean(window), min(window), max(window))], 60.0, "C")


def summariser_pass(folder: Path, values: list[float], *, noised: bool) -> tuple[float, int]:
    """Seconds for the summariser to queue every window of ``values`` (1 Hz) under one grant, and windows."""
    from agent.consent.grants import new_grant
    from agent.consent.ledger import add_grant
    from agent.consent.receipts import receipt_for
    from agent.readings import Reading, StreamInfo
    from agent.store.ledger import open_ledger
    from agent.store.readings import open_readings
    from agent.sync.summariser import Summariser

    t0 = 1_700_000_040.0  # a whole minute
    store, ledger = open_readings(folder), open_ledger(folder)
    try:
        store.write_batch(
            [Reading("climate.temperature", t0 + i, v, None) for i, v in enumerate(values)],
            [("simulated", StreamInfo.of("climate", "temperature", "C"))],
        )
        windows = len(values) // WINDOW
        policy = DpPolicy("laplace", 1.0, 0.0, 40.0, cap=float(windows + 1)) if noised else None
        grant = new_grant(
            recipient="coop",
            purpose="benchmark",
            strands=["climate.temperature"],
            granularity="summary:1m",
            precision=None,
            now=t0,
            dp=policy,
        )
        add_grant(ledger, grant, receipt_for(grant, hub_id="bench"))
        summariser = Summariser(
            ledger,
            store.conn,
            hub_id="bench",
            prefix="p",
            ttl_s=3600,
            cap=10**7,
            lag_s=0,
            max_windows=windows,
        )
        start = time.perf_counter()
        result = summariser.step(t0 + windows * WINDOW)
        elapsed = time.perf_counter() - start
        assert result.queued == windows, result
        return elapsed, windows
    finally:
        store.close()
        ledger.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    repeats = 5 if args.quick else 50
    data = windows()
    print(f"{len(data['temperature'])} windows of {WINDOW} readings per quantity; {repeats} repeats")
    print(f"{'epsilon':>8} {'temperature MAE':>16} {'humidity MAE':>13}")
    for epsilon in EPSILONS:
        errors = {}
        for name, wins in data.items():
            lower, upper = BOUNDS[name]
            summary = NoisySummary(DpPolicy("laplace", epsilon, lower, upper, cap=epsilon))
            diffs = [
                abs((summary.release(w).mean or lower) - statistics.fmean(w))
                for _ in range(repeats)
                for w in wins
            ]
            errors[name] = float(np.mean(diffs))
        print(f"{epsilon:8.1f} {errors['temperature']:16.3f} {errors['humidity']:13.3f}")
    summary = NoisySummary(DpPolicy("laplace", 1.0, 0.0, 40.0, cap=1.0))
    sample = data["temperature"]
    loops = 2 if args.quick else 10
    start = time.perf_counter()
    for _ in range(loops):
        for w in sample:
            summary.release(w)
    noisy_us = (time.perf_counter() - start) / (loops * len(sample)) * 1e6
    start = time.perf_counter()
    for _ in range(loops):
        for w in sample:
            plain(w)
    plain_us = (time.perf_counter() - start) / (loops * len(sample)) * 1e6
    print(f"release: {noisy_us:.1f} µs noisy vs {plain_us:.1f} µs plain per window of {WINDOW}")
    values = [v for w in sample for v in w] * (5 if args.quick else 50)
    timings: dict[bool, float] = {}
    with tempfile.TemporaryDirectory(prefix="hearth-bench-dp-") as folder:
        for noised in (False, True):
            best = math.inf
            for run in range(3):
                made = Path(folder) / f"{noised}-{run}"
                made.mkdir()
                elapsed, count = summariser_pass(made, values, noised=noised)
                best = min(best, elapsed / count)
            timings[noised] = best * 1e6
    print(
        f"summariser pass: {timings[True]:.1f} µs per window noised vs {timings[False]:.1f} µs plain"
        f" ({len(values) // WINDOW} windows of {WINDOW} readings, best of 3)"
    )
    report(
        "dp_release",
        timings[True],
        "µs per release (summariser pass)",
        baseline=timings[False],
        ratio=timings[True] / timings[False],
        target="< 1000 µs per release",
    )


if __name__ == "__main__":
    main()
