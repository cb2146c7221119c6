"""The forecaster on synthetic series whose truth is known: season, trend, gaps, DST, constants, jumps."""

from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from agent.prediction.evaluate import backtest
from agent.prediction.forecast import Forecaster, Season

HOUR = 3600.0
# 2026-01-05 00:00 UTC, a Monday.
T0 = 1_767_571_200.0


def truth(ts: np.ndarray, *, tz: str = "UTC", trend_per_day: float = 0.0) -> np.ndarray:
    """20 °C, a 5 °C daily swing peaking at 15:00 local time, and a slow trend."""
    zone = ZoneInfo(tz)
    hours = np.array([datetime.fromtimestamp(t, zone).hour for t in ts], dtype=float)
    return 20 + 5 * np.cos(2 * np.pi * (hours - 15) / 24) + trend_per_day * (ts - ts[0]) / 86400


def series(days: int, *, noise: float = 0.3, seed: int = 1, **kw: object) -> tuple[np.ndarray, np.ndarray]:
    ts = T0 + HOUR * np.arange(days * 24)
    rng = np.random.default_rng(seed)
    return ts, truth(ts, **kw) + rng.normal(0, noise, len(ts))  # type: ignore[arg-type]


def test_it_recovers_a_daily_season_and_a_trend() -> None:
    ts, ys = series(28, trend_per_day=0.1)
    model = Forecaster(season=Season(HOUR), max_horizon=24)
    model.fit(ts, ys)
    made = model.forecast(range(1, 25))
    future = ts[-1] + HOUR * np.arange(1, 25)
    expected = truth(np.concatenate([ts, future]), trend_per_day=0.1)[-24:]
    assert np.mean(np.abs(np.array(made.mean) - expected)) < 0.6
    peak = datetime.fromtimestamp(made.times[int(np.argmax(made.mean))], ZoneInfo("UTC")).hour
    assert abs(peak - 15) <= 1
    assert all(lo < m < hi for lo, m, hi in zip(made.lower, made.mean, made.upper, strict=True))


def test_missing_steps_and_a_two_day_gap_do_not_throw_it_off() -> None:
    ts, ys = series(28)
    rng = np.random.default_rng(7)
    ys[rng.random(len(ys)) < 0.2] = np.nan
    ys[-24 * 4 : -24 * 2] = np.nan  # the hub was off for two days
    model = Forecaster(season=Season(HOUR), max_horizon=24)
    model.fit(ts[:-48], ys[:-48])
    for t, y in zip(ts[-48:], ys[-48:], strict=True):
        model.update(float(t), float(y))
    made = model.forecast(range(1, 25))
    expected = truth(ts[-1] + HOUR * np.arange(1, 25))
    assert np.mean(np.abs(np.array(made.mean) - expected)) < 1.0


def test_a_constant_series_forecasts_the_constant_with_a_narrow_band() -> None:
    ts = T0 + HOUR * np.arange(24 * 14)
    model = Forecaster(season=Season(HOUR), max_horizon=6)
    model.fit(ts, np.full(len(ts), 3.3))
    made = model.forecast([1, 6])
    assert made.mean == pytest.approx((3.3, 3.3))
    assert max(hi - lo for lo, hi in zip(made.lower, made.upper, strict=True)) < 1e-6


def test_the_daily_pattern_follows_the_wall_clock_across_a_dst_change() -> None:
    # Berlin moves its clocks forward on 2026-03-29: the peak stays at 15:00 local, one UTC hour earlier.
    start = datetime(2026, 3, 1, tzinfo=ZoneInfo("Europe/Berlin")).timestamp()
    ts = start + HOUR * np.arange(24 * 35)
    ys = truth(ts, tz="Europe/Berlin") + np.random.default_rng(3).normal(0, 0.2, len(ts))
    model = Forecaster(season=Season(HOUR, "Europe/Berlin"), max_horizon=24)
    model.fit(ts, ys)
    made = model.forecast(range(1, 25))
    peak = datetime.fromtimestamp(made.times[int(np.argmax(made.mean))], ZoneInfo("Europe/Berlin"))
    assert peak.hour == 15
    assert datetime.fromtimestamp(ts[-1], ZoneInfo("Europe/Berlin")).utcoffset().total_seconds() == 7200  # type: ignore[union-attr]


def test_a_replaced_sensor_reading_two_degrees_higher_is_followed_within_a_day() -> None:
    ts, ys = series(21)
    ys[-48:] += 2.0  # the new sensor reads warmer
    model = Forecaster(season=Season(HOUR), max_horizon=24)
    model.fit(ts, ys)
    made = model.forecast(range(1, 25))
    expected = truth(ts[-1] + HOUR * np.arange(1, 25)) + 2.0
    assert np.mean(np.abs(np.array(made.mean) - expected)) < 0.8


def test_rebuilding_from_the_same_history_gives_the_same_forecast() -> None:
    ts, ys = series(14)
    first, again = Forecaster(season=Season(HOUR)), Forecaster(season=Season(HOUR))
    first.fit(ts, ys)
    again.fit(ts, ys)
    assert first.forecast([1, 12, 24]) == again.forecast([1, 12, 24])


def test_backtest_beats_seasonal_naive_and_the_interval_covers_as_promised() -> None:
    ts, ys = series(60, noise=0.6, trend_per_day=0.05)
    scores = backtest(ts, ys, season=Season(HOUR), horizons=[1, 6, 24], every=3)
    assert scores.origins > 100
    assert scores.mean_mase < 0.9 * scores.mean_naive_mase
    assert 0.7 <= scores.mean_coverage <= 0.9
    assert all(math.isfinite(m) for m in scores.mase)


def test_nothing_learned_yet_is_an_error_not_a_guess() -> None:
    model = Forecaster(season=Season(HOUR), max_horizon=4)
    model.fit([T0, T0 + HOUR], [math.nan, math.nan])
    assert not model.ready
    with pytest.raises(ValueError, match="nothing learned"):
        model.forecast([1])
    model.update(T0 + 2 * HOUR, 5.0)
    with pytest.raises(ValueError, match=r"outside 1\.\.4"):
        model.forecast([5])
