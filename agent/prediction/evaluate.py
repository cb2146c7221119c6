"""Rolling-origin backtests of the forecaster on a stream's own history, against seasonal naive (pure).

The history is split in time: the forecaster learns on the first part, then steps through the rest, and
at every step forecasts each horizon before seeing it. MASE divides its mean absolute error by that of the
one-season-ago forecast in the training part (Hyndman & Koehler 2006), so 1.0 means "no better than
yesterday's value at this hour"; coverage is the share of actual values inside the forecast interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from agent.prediction.forecast import Forecaster, Season


@dataclass(frozen=True, slots=True)
class Backtest:
    """Scores of one backtest, per horizon (steps) and over all of them."""

    horizons: tuple[int, ...]
    mase: tuple[float, ...]
    naive_mase: tuple[float, ...]
    coverage: tuple[float, ...]
    level: float
    origins: int

    @property
    def mean_mase(self) -> float:
        """MASE over all horizons."""
        return float(np.mean(self.mase))

    @property
    def mean_naive_mase(self) -> float:
        """Seasonal naive's MASE over all horizons."""
        return float(np.mean(self.naive_mase))

    @property
    def mean_coverage(self) -> float:
        """Interval coverage over all horizons."""
        return float(np.mean(self.coverage))


def backtest(
    times: Sequence[float],
    values: Sequence[float],
    *,
    season: Season,
    horizons: Sequence[int],
    train_fraction: float = 0.75,
    level: float = 0.8,
    every: int = 1,
) -> Backtest:
    """Learn on the first ``train_fraction`` of the history, then forecast from every ``every``-th step."""
    ts = np.asarray(times, dtype=np.float64)
    ys = np.asarray(values, dtype=np.float64)
    m = season.slots
    split = int(len(ys) * train_fraction)
    if split <= m or len(ys) - split <= max(horizons):
        raise ValueError("the history is too short for this split and these horizons")
    train = ys[:split]
    naive_errors = np.abs(train[m:] - train[:-m])
    scale = float(np.nanmean(naive_errors))
    if not math.isfinite(scale) or scale == 0:
        scale = 1.0
    model = Forecaster(season=season, max_horizon=max(horizons))
    model.fit(ts[:split], train)
    errors: dict[int, list[float]] = {h: [] for h in horizons}
    naive: dict[int, list[float]] = {h: [] for h in horizons}
    inside: dict[int, list[bool]] = {h: [] for h in horizons}
    origins = 0
    for i in range(split, len(ys) - max(horizons)):
        if (i - split) % every == 0 and model.ready:
            origins += 1
            made = model.forecast(horizons, level)
            for k, h in enumerate(horizons):
                actual = ys[i - 1 + h]
                if not math.isfinite(actual):
                    continue
                errors[h].append(abs(actual - made.mean[k]))
                inside[h].append(made.lower[k] <= actual <= made.upper[k])
                # Seasonal naive: the value one season before the forecast step, known at the origin.
                back = i - 1 + h - m * math.ceil(h / m)
                if math.isfinite(ys[back]):
                    naive[h].append(abs(actual - ys[back]))
        model.update(float(ts[i]), float(ys[i]))
    return Backtest(
        horizons=tuple(horizons),
        mase=tuple(float(np.mean(errors[h])) / scale for h in horizons),
        naive_mase=tuple(float(np.mean(naive[h])) / scale for h in horizons),
        coverage=tuple(float(np.mean(inside[h])) for h in horizons),
        level=level,
        origins=origins,
    )
