"""Anomaly runs and battery-life estimates on series whose truth is known."""

from __future__ import annotations

import numpy as np

from agent.prediction.anomaly import AnomalyDetector
from agent.prediction.battery import estimate
from agent.prediction.forecast import Forecaster, Season

DAY = 86400.0
T0 = 1_767_571_200.0


def test_one_odd_value_is_no_anomaly_but_a_run_outside_the_band_is() -> None:
    detector = AnomalyDetector(min_steps=3)
    steps = [(20.0, 18, 22), (30.0, 18, 22), (20.0, 18, 22)]  # a single spike
    assert [detector.step(i, v, lo, hi) for i, (v, lo, hi) in enumerate(steps)] == [None, None, None]
    for i, value in enumerate((25.0, 26.0, 27.0, 25.0)):
        assert detector.step(10 + i, value, 18, 22) is None
    assert detector.open_run() is not None
    found = detector.step(20, 21.0, 18, 22)
    assert found is not None
    assert (found.start, found.end) == (10, 13)
    assert found.value == 27.0
    assert (found.expected_low, found.expected_high) == (18, 22)
    assert found.score == 3.5  # 5 above the band's top, in half-widths of 2, plus one
    assert detector.open_run() is None


def test_an_injected_fault_is_found_against_the_learned_daily_pattern() -> None:
    hour = 3600.0
    ts = T0 + hour * np.arange(24 * 21)
    rng = np.random.default_rng(5)
    hours = (ts - T0) / hour % 24
    ys = 100 + 80 * (hours >= 18) * (hours < 22) + rng.normal(0, 3, len(ts))  # an evening load
    ys[-10:-6] += 60  # a fault: four hours drawing far more than usual at that time of day
    model = Forecaster(season=Season(hour), max_horizon=1)
    model.fit(ts[:-24], ys[:-24])
    detector, found = AnomalyDetector(min_steps=2), []
    for t, y in zip(ts[-24:], ys[-24:], strict=True):
        band = model.forecast([1], level=0.98)
        if (anomaly := detector.step(float(t), float(y), band.lower[0], band.upper[0])) is not None:
            found.append(anomaly)
        model.update(float(t), float(y))
    assert len(found) == 1
    assert found[0].start == ts[-10]
    assert found[0].score > 1
    assert not found[0].expected_low <= found[0].value <= found[0].expected_high


def test_a_draining_battery_empties_when_its_slope_says_with_an_interval() -> None:
    ts = T0 + DAY * np.arange(0, 30, 0.25)
    rng = np.random.default_rng(2)
    levels = 90 - 1.0 * (ts - T0) / DAY + rng.normal(0, 1.0, len(ts))
    levels[5] = 10.0  # a glitch
    found = estimate(ts, levels)
    assert found is not None
    true_empty = T0 + 90 * DAY
    assert found.empty_at is not None
    assert abs(found.empty_at - true_empty) < 3 * DAY
    assert found.earliest is not None
    assert found.latest is not None
    assert found.earliest <= true_empty <= found.latest
    assert found.slope_per_day < 0
    days = found.days_left(float(ts[-1]))
    assert days is not None
    assert 55 < days < 65


def test_a_new_battery_starts_the_estimate_afresh() -> None:
    ts = T0 + DAY * np.arange(40)
    levels = np.where(ts < T0 + 20 * DAY, 40 - 2.0 * (ts - T0) / DAY, 100 - 0.5 * (ts - T0 - 20 * DAY) / DAY)
    found = estimate(ts, levels)
    assert found is not None
    assert found.points == 20
    assert abs(found.slope_per_day + 0.5) < 1e-9


def test_a_flat_or_short_history_gives_no_date() -> None:
    ts = T0 + DAY * np.arange(20)
    flat = estimate(ts, np.full(20, 80.0))
    assert flat is not None
    assert flat.empty_at is None
    assert estimate(ts[:3], [80.0, 79.0, 78.0]) is None


def test_a_step_off_a_perfectly_predicted_stream_gets_a_score_of_its_size_not_of_a_zero_width_band() -> None:
    detector = AnomalyDetector(min_steps=2)
    for i in range(2):  # a setpoint the forecaster predicts exactly: the band has no width
        assert detector.step(i, 20.2, 20.0, 20.0) is None
    found = detector.step(2, 20.0, 20.0, 20.0)
    assert found is not None
    assert found.score == 101.0  # 0.2 above, in ten-thousandths of 20 (0.002), plus one
    assert found.expected_low == found.expected_high == 20.0
