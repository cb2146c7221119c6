"""The smoothing weights are chosen on how well they forecast, not on how fast they forget the zero start."""

from __future__ import annotations

import math

import numpy as np

from agent.prediction.forecast import Forecaster, Season

T0 = 1_780_000_000.0 - 1_780_000_000.0 % 86400  # midnight UTC


def test_a_clean_daily_cycle_is_forecast_hours_ahead_not_chased() -> None:
    hours = np.arange(10 * 24)
    times = T0 + hours * 3600.0
    values = 20 + 3 * np.cos(2 * np.pi * hours / 24) + 0.05 * np.sin(hours * 7.3)
    model = Forecaster(season=Season(3600.0), max_horizon=6)
    model.fit(times, values)
    made = model.forecast([1, 2, 6])
    truth = [20 + 3 * math.cos(2 * math.pi * (240 + h - 1) / 24) for h in (1, 2, 6)]
    # Scoring the first seasons (while the season is still zero) would pick a level that chases the
    # cycle (alpha 0.5), and its 6-hour forecast would be off by more than 1 °C.
    assert model.weights.alpha <= 0.15
    assert max(abs(m - t) for m, t in zip(made.mean, truth, strict=True)) < 0.5


def test_keeping_the_errors_of_a_few_horizons_gives_them_the_same_intervals() -> None:
    hours = np.arange(20 * 24)
    times = T0 + hours * 3600.0
    rng = np.random.default_rng(5)
    values = 20 + 3 * np.cos(2 * np.pi * hours / 24) + np.cumsum(rng.normal(0, 0.2, len(hours)))
    every = Forecaster(season=Season(3600.0), max_horizon=24)
    few = Forecaster(season=Season(3600.0), max_horizon=24, scored=(1, 6, 24))
    every.fit(times, values)
    few.fit(times, values)
    assert few.forecast([1, 6, 24]) == every.forecast([1, 6, 24])
    assert few.recent_error(6) == every.recent_error(6)
    assert few.recent_error(2) is None  # not kept: its band is the wider one from the one-step spread
    assert few.forecast([2]).mean == every.forecast([2]).mean
