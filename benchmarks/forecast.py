"""Forecast accuracy on real hourly weather, and what forecasting costs per stream.

Data: the two Typical Meteorological Year (TMY3) files pvlib ships (NREL, public domain): Greensboro NC
(723170) and Sand Point AK (703165), one year of hourly air temperature and relative humidity each. Split:
the first 75 % of the year to learn, the rest for a rolling-origin backtest (a forecast of hours 1-24 from
every ``--every``-th hour). Scores: MASE (scaled by seasonal naive's in-sample error) of Hearth's
forecaster, of seasonal naive itself, and of statsforecast's AutoETS (season 24) when it is installed, as
the reference; the 80 % interval's coverage.

Anomalies: sktime's labelled ``yahoo`` series (1000 points, 7 labelled anomalies; from Yahoo's S5
benchmark, Yahoo Webscope licence, as sktime redistributes it). It has no timestamps; its period is 12
points, so each point is taken as two hours (12 a day). Precision and recall of the step detector (one
step out of the forecaster's interval, learned online after the first 300 points) and of the day-pattern
detector (each 6 h part against the same part of the days before; a part is labelled when it holds a
labelled point), each next to a fixed z-score detector (|z| > 3 against the first 300 points' mean and
standard deviation, on the points or on the part means).

The yahoo anomalies are single points, which hardly move a 6 h mean, so the day-pattern detector is also
scored on real variation with known faults: Greensboro's hourly temperature, with +4, +8 or +12 °C added
to every hour of one part of the day on 30 days drawn at random (seeded) from the second half of the
year; false alarms are the other parts it flags (the weather's own swings count against it).

Cost: microseconds per online update of a learned forecaster, the share of a core 20 streams take at one
update per stream per minute, and the memory 20 learned forecasters hold.

Run: ``python benchmarks/forecast.py`` (``--quick``: one site, temperature, fewer origins). Needs the
``bench`` extra (``pip install -e '.[bench]'``): pvlib and sktime (and statsforecast for the reference).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import tracemalloc
from importlib import resources
from pathlib import Path

import numpy as np

from agent.prediction.anomaly import AnomalyDetector
from agent.prediction.evaluate import backtest
from agent.prediction.forecast import Forecaster, Season
from agent.prediction.pattern import DayPattern

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import report

SITES = {"Greensboro NC": "723170TYA.CSV", "Sand Point AK": "703165TY.csv"}
QUANTITIES = {"air temperature": "temp_air", "relative humidity": "relative_humidity"}
HORIZONS = list(range(1, 25))


def load(file: str, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Unix times and hourly values of ``column`` from pvlib's bundled TMY3 ``file``."""
    from pvlib.iotools import read_tmy3

    path = resources.files("pvlib") / "data" / file
    data, _meta = read_tmy3(str(path), coerce_year=2021, map_variables=True)
    # Each timestamp's own seconds: the index's integer unit (ns or µs) differs between pandas versions.
    times = np.array([stamp.timestamp() for stamp in data.index], dtype=float)
    return times, data[column].to_numpy(dtype=float)


def auto_ets_mase(times: np.ndarray, values: np.ndarray, every: int) -> float | None:
    """MASE of statsforecast's AutoETS (season 24), learned once on the training part, rolled forward."""
    try:
        from statsforecast.models import AutoETS
    except ImportError:
        return None
    split = int(len(values) * 0.75)
    train = values[:split]
    scale = float(np.mean(np.abs(train[24:] - train[:-24])))
    model = AutoETS(season_length=24).fit(train)
    errors = []
    for i in range(split, len(values) - 24, every):
        made = model.forward(y=values[:i], h=24)["mean"]
        errors.append(np.abs(values[i : i + 24] - made))
    return float(np.mean(errors)) / scale


def yahoo() -> tuple[np.ndarray, np.ndarray]:
    """sktime's labelled ``yahoo`` series: values and 0/1 labels."""
    path = resources.files("sktime") / "datasets" / "data" / "yahoo" / "yahoo.csv"
    rows = np.loadtxt(str(path), delimiter=",", skiprows=1)
    return rows[:, 0], rows[:, 1].astype(bool)


def precision_recall(flagged: np.ndarray, labelled: np.ndarray) -> tuple[float, float]:
    """(precision, recall) of ``flagged`` against ``labelled`` (precision NaN when nothing is flagged)."""
    hits = int(np.sum(flagged & labelled))
    precision = hits / int(flagged.sum()) if flagged.any() else math.nan
    return precision, hits / max(1, int(labelled.sum()))


def anomaly_scores(level: float) -> dict[str, tuple[float, float]]:
    """Precision and recall on the yahoo series: step and day-pattern detectors, each with its z-score."""
    values, labels = yahoo()
    step, train = 7200.0, 300
    times = 1_700_006_400.0 + step * np.arange(len(values))  # a midnight, UTC
    season = Season(step)
    model = Forecaster(season=season, max_horizon=1)
    model.fit(times[:train], values[:train])
    detector = AnomalyDetector(min_steps=1)
    flagged = np.zeros(len(values), dtype=bool)
    for i in range(train, len(values)):
        made = model.forecast([1], level)
        detector.step(times[i], values[i], made.lower[0], made.upper[0])
        flagged[i] = detector.open_run() is not None
        model.update(float(times[i]), float(values[i]))
    mean, sd = float(np.mean(values[:train])), float(np.std(values[:train]))
    z_flagged = np.abs(values - mean) / sd > 3
    out = {
        f"steps (interval {level:.0%})": precision_recall(flagged[train:], labels[train:]),
        "steps, z-score": precision_recall(z_flagged[train:], labels[train:]),
    }
    pattern = DayPattern(season)
    parts: list[tuple[bool, bool, float, int]] = []  # (flagged, labelled, mean, first index)
    first = 0
    for i, (t, y) in enumerate(zip(times, values, strict=True)):
        for verdict in pattern.step(float(t), float(y)):
            held = slice(first, i + 1)
            parts.append((verdict.score > 0, bool(labels[held].any()), verdict.mean, first))
        if pattern._current is None:  # a part finished at this step; the next one starts after it
            first = i + 1
    judged = np.array(parts)
    flags, labelled, means = judged[:, 0].astype(bool), judged[:, 1].astype(bool), judged[:, 2]
    early = judged[:, 3] < train
    z_parts = np.abs(means - means[early].mean()) / means[early].std() > 3
    name = f"day pattern ({int(labelled[~early].sum())} of {int((~early).sum())} parts labelled)"
    out[name] = precision_recall(flags[~early], labelled[~early])
    out["day pattern, z-score of part means"] = precision_recall(z_parts[~early], labelled[~early])
    return out


SHIFTS = (4.0, 8.0, 12.0)


def injected_scores(shift: float, seed: int = 7) -> dict[str, tuple[float, float]]:
    """Precision and recall of the day-pattern detector on hourly temperature with injected part shifts."""
    times, values = load(next(iter(SITES.values())), "temp_air")
    season = Season(3600.0, "Etc/GMT+5")  # the file's local standard time (TMY3 has no DST)
    keys = [(day, slot // 6) for day, slot in map(season.local, times)]  # (local day, part) of each hour
    days = sorted({day for day, _ in keys})
    second_half = days[len(days) // 2 :]
    rng = np.random.default_rng(seed)
    faults = {(int(day), int(rng.integers(0, 4))) for day in rng.choice(second_half, size=30, replace=False)}
    values = values + np.array([shift if key in faults else 0.0 for key in keys])
    pattern = DayPattern(season)
    flagged, labelled, means = [], [], []
    for t, y in zip(times, values, strict=True):
        for verdict in pattern.step(float(t), float(y)):
            day, slot = season.local(verdict.start)
            if day >= second_half[0]:
                flagged.append(verdict.score > 0)
                labelled.append((day, slot // 6) in faults)
                means.append(verdict.mean)
    flags, labels = np.array(flagged), np.array(labelled)
    # The fixed z-score: each part mean against all part means of the first half (no season, no recency).
    first_half = values[: len(days) // 2 * 24].reshape(-1, 6).mean(axis=1)
    z = np.abs(np.array(means) - first_half.mean()) / first_half.std() > 3
    false = int(np.sum(flags & ~labels))
    return {
        f"+{shift:g} °C: day pattern ({false} false of {len(flags)})": precision_recall(flags, labels),
        f"+{shift:g} °C: z-score ({int(np.sum(z & ~labels))} false)": precision_recall(z, labels),
    }


def cost(times: np.ndarray, values: np.ndarray) -> tuple[float, float, float]:
    """(µs per update, % of a core for 20 streams at one update a minute, MB held by 20 forecasters)."""
    model = Forecaster(season=Season(3600.0), max_horizon=24)
    model.fit(times[:-500], values[:-500])
    start = time.perf_counter()
    for t, y in zip(times[-500:], values[-500:], strict=True):
        model.update(float(t), float(y))
        model.forecast([1, 6, 24])
    per_update = (time.perf_counter() - start) / 500
    tracemalloc.start()
    kept = []
    for _ in range(20):
        made = Forecaster(season=Season(3600.0), max_horizon=24)
        made.fit(times[-24 * 30 :], values[-24 * 30 :])
        kept.append(made)
    held, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return per_update * 1e6, 20 * per_update / 60 * 100, held / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one site and quantity, fewer origins")
    args = parser.parse_args()
    every = 24 if args.quick else 6
    sites = dict(list(SITES.items())[:1]) if args.quick else SITES
    quantities = dict(list(QUANTITIES.items())[:1]) if args.quick else QUANTITIES
    hearth_t, naive_t = [], []
    print(f"{'series':<40} {'Hearth':>7} {'naive':>7} {'AutoETS':>8} {'cover80':>8} {'origins':>8}")
    for site, file in sites.items():
        for quantity, column in quantities.items():
            times, values = load(file, column)
            scores = backtest(times, values, season=Season(3600.0), horizons=HORIZONS, every=every, level=0.8)
            ets = auto_ets_mase(times, values, every)
            if column == "temp_air":
                hearth_t.append(scores.mean_mase)
                naive_t.append(scores.mean_naive_mase)
            ets_text = "—" if ets is None else f"{ets:.3f}"
            print(
                f"{site + ', ' + quantity:<40} {scores.mean_mase:7.3f} {scores.mean_naive_mase:7.3f}"
                f" {ets_text:>8} {scores.mean_coverage:8.3f} {scores.origins:8d}"
            )
            if ets is not None:
                print(f"{'':<40} Hearth / AutoETS = {scores.mean_mase / ets:.3f} (aim <= 1.1)")
    print(f"\n{'anomalies, yahoo (after the first 300 points)':<46} {'precision':>9} {'recall':>7}")
    for level in (0.8, 0.98):
        for name, (precision, recall) in anomaly_scores(level).items():
            if level == 0.8 or name.startswith("steps ("):
                shown = "—" if math.isnan(precision) else f"{precision:.2f}"
                print(f"{name:<46} {shown:>9} {recall:7.2f}")
    print(f"\n{'injected shifts, Greensboro temperature':<46} {'precision':>9} {'recall':>7}")
    for shift in SHIFTS:
        for name, (precision, recall) in injected_scores(shift).items():
            shown = "—" if math.isnan(precision) else f"{precision:.2f}"
            print(f"{name:<46} {shown:>9} {recall:7.2f}")
    times, values = load(next(iter(SITES.values())), "temp_air")
    micros, core_pct, held_mb = cost(times, values)
    print(f"update + forecast: {micros:.0f} µs; 20 streams at 1/min: {core_pct:.4f} % of a core;")
    print(f"20 learned forecasters hold {held_mb:.2f} MB (targets <= 1 % and <= 10 MB)")
    value, naive = float(np.mean(hearth_t)), float(np.mean(naive_t))
    report(
        "forecast",
        value,
        "MASE (temperature, 1-24 h)",
        baseline=naive,
        ratio=value / naive,
        target="<= 0.9 x seasonal naive",
    )


if __name__ == "__main__":
    main()
