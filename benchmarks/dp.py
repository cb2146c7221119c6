"""Differentially private window means: their error against epsilon, and what a release costs.

Data: the demo's climate sensor (agent/sources/sim_data/climate.csv, recorded-like temperature and
humidity), cut into windows of 60 readings as a `summary:1m` grant at 1 Hz would see them. For each
epsilon per release (Laplace, bounds 0..40 °C and 0..100 %), the mean absolute error of the released
mean against the true window mean, over every window, repeated. Cost: microseconds per release, next to
the plain summary path (the window's count/mean/min/max made into the message body) in the same run.

Run: ``python benchmarks/dp.py`` (``--quick``: fewer repeats). Needs the ``dev`` extra (OpenDP).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
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
    report(
        "dp_release",
        noisy_us,
        "µs per release",
        baseline=plain_us,
        ratio=noisy_us / plain_us,
        target="< 1000 µs per release",
    )


if __name__ == "__main__":
    main()
