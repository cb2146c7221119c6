"""Forecast accuracy on real hourly weather, and what forecasting costs per stream.

Data: the two Typical Meteorological Year (TMY3) files pvlib ships (NREL, public domain): Greensboro NC
(723170) and Sand Point AK (703165), one year of hourly air temperature and relative humidity each. Split:
the first 75 % of the year to learn, the rest for a rolling-origin backtest (a forecast of hours 1-24 from
every ``--every``-th hour). Scores: MASE (scaled by seasonal naive's in-sample error) of Hearth's
forecaster, of seasonal naive itself, and of statsforecast's AutoETS (season 24) when it is installed, as
the reference; the 80 % interval's coverage.

Cost: microseconds per online update of a learned forecaster, the share of a core 20 streams take at one
update per stream per minute, and the memory 20 learned forecasters hold.

Run: ``python benchmarks/forecast.py`` (``--quick``: one site, temperature, fewer origins). Needs the
``bench`` extra (``pip install -e '.[bench]'``): pvlib (and statsforecast for the reference).
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from importlib import resources
from pathlib import Path

import numpy as np

from agent.prediction.evaluate import backtest
from agent.prediction.forecast import Forecaster, Season

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
    times = data.index.astype("int64").to_numpy() / 1e9
    return times.astype(float), data[column].to_numpy(dtype=float)


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
