"""Day-pattern anomalies on synthetic series: a part of the day compared with the same part of past days."""

from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from agent.prediction.forecast import Season
from agent.prediction.pattern import DayPattern, PartVerdict, from_bytes, to_bytes

HOUR = 3600.0
START = datetime(2026, 3, 2, tzinfo=ZoneInfo("UTC")).timestamp()  # a Monday, midnight UTC


def freezer(hours: int, seed: int, *, start: float = START) -> tuple[np.ndarray, np.ndarray]:
    """Hourly mean power of a freezer: 80 W, 20 W more in the evening (door opened, warm food), noise."""
    rng = np.random.default_rng(seed)
    times = start + HOUR * np.arange(hours)
    hour = (times % 86400) / HOUR
    values = 80 + 20 * ((hour >= 18) & (hour < 23)) + rng.normal(0, 3, hours)
    return times, values


def run(pattern: DayPattern, times: np.ndarray, values: np.ndarray) -> list[PartVerdict]:
    return [v for t, y in zip(times, values, strict=True) for v in pattern.step(float(t), float(y))]


def test_an_evening_that_draws_more_than_any_in_four_weeks_is_out() -> None:
    times, values = freezer(35 * 24, seed=1)
    last_evening = (times >= times[-24] + 18 * HOUR) & (times < times[-24] + 24 * HOUR)
    values[last_evening] += 12  # the last evening only: +12 W, hour after hour
    verdicts = run(DayPattern(Season(HOUR)), times, values)
    out = [v for v in verdicts if v.score > 0]
    assert [(v.part, v.start, v.end) for v in out] == [("evening", times[-6], times[-1] + HOUR)]
    found = out[0]
    assert found.days == 28
    assert found.expected_high < found.mean
    assert found.expected_low < 96.7 < found.expected_high  # the usual evening: 5 h of 6 at +20 W
    assert found.expected_high - found.expected_low < 15  # +-5 spreads of a 6 h mean (3 W / sqrt 6)
    assert found.score > 1


def test_normal_variation_is_not_flagged() -> None:
    for seed in range(5):
        times, values = freezer(90 * 24, seed=seed)
        verdicts = run(DayPattern(Season(HOUR)), times, values)
        assert len(verdicts) == (90 - 7) * 4  # every part judged once a week of history is there
        assert [v for v in verdicts if v.score > 0] == [], seed


def test_a_part_below_its_usual_range_is_out_too() -> None:
    times, values = freezer(20 * 24, seed=2)
    night = (times >= times[-24]) & (times < times[-24] + 6 * HOUR)
    values[night] -= 30  # a night without power
    out = [v for v in run(DayPattern(Season(HOUR)), times, values) if v.score > 0]
    assert [v.part for v in out] == ["night"]
    assert out[0].mean < out[0].expected_low
    assert out[0].days == 19


def test_not_enough_history_gives_no_verdict() -> None:
    times, values = freezer(7 * 24, seed=3)
    values[-6:] += 50  # the seventh evening is wild, but six evenings say little about what is usual
    assert run(DayPattern(Season(HOUR)), times, values) == []


def test_a_part_mostly_missing_is_neither_judged_nor_kept() -> None:
    times, values = freezer(30 * 24, seed=4)
    values[-6:-2] = np.nan  # four of the last evening's six hours are missing
    values[-1] += 100
    verdicts = run(DayPattern(Season(HOUR)), times, values)
    assert verdicts[-1].part == "afternoon"


def test_a_constant_history_still_has_a_usual_range() -> None:
    times = START + HOUR * np.arange(20 * 24)
    values = np.full(len(times), 5.0)
    values[-6:] = 5.01  # a change of 0.2 %: not an anomaly of a flat stream
    assert [v.score for v in run(DayPattern(Season(HOUR)), times, values)][-1] == 0
    values[-6:] = 6.0
    assert run(DayPattern(Season(HOUR)), times, values)[-1].score > 1


def test_parts_follow_the_local_day_across_a_dst_change() -> None:
    tz = "Europe/Berlin"
    start = datetime(2026, 3, 1, tzinfo=ZoneInfo(tz)).timestamp()
    times = start + HOUR * np.arange(60 * 24)  # across the change on 29 March and Easter
    local_hours = np.array([datetime.fromtimestamp(t, ZoneInfo(tz)).hour for t in times])
    rng = np.random.default_rng(5)
    values = 80 + 20 * ((local_hours >= 18) & (local_hours < 23)) + rng.normal(0, 3, len(times))
    verdicts = run(DayPattern(Season(HOUR, tz)), times, values)
    assert [v for v in verdicts if v.score > 0] == []
    evenings = [v for v in verdicts if v.part == "evening"]
    assert all(datetime.fromtimestamp(v.end, ZoneInfo(tz)).hour == 0 for v in evenings)


@pytest.mark.parametrize(("step", "names"), [(HOUR, 4), (4 * HOUR, 3), (86400.0, 1)])
def test_parts_of_other_steps(step: float, names: int) -> None:
    pattern = DayPattern(Season(step))
    assert pattern.parts == names
    assert len({pattern.name(p) for p in range(pattern.parts)}) == names
    times = START + step * np.arange(round(30 * 86400 / step))
    verdicts = run(pattern, times, np.full(len(times), 1.0))
    assert len(verdicts) == (30 - 7) * names
    assert all(v.score == 0 for v in verdicts)


def test_a_saved_pattern_goes_on_as_if_it_had_not_stopped() -> None:
    times, values = freezer(35 * 24, seed=6)
    values[-6:] += 15
    whole = run(DayPattern(Season(HOUR)), times, values)
    first = DayPattern(Season(HOUR))
    cut = 34 * 24 + 20  # in the middle of the last evening
    head = run(first, times[:cut], values[:cut])
    again = from_bytes(to_bytes(first), season=Season(HOUR), days=28)
    assert head + run(again, times[cut:], values[cut:]) == whole
    assert whole[-1].score > 1
    with pytest.raises(ValueError, match="other settings"):
        from_bytes(to_bytes(first), season=Season(HOUR), days=14)
    with pytest.raises(ValueError, match="not a saved day pattern"):
        from_bytes(b"\x01", season=Season(HOUR), days=28)


def test_a_fault_in_the_history_does_not_widen_what_is_usual() -> None:
    times, values = freezer(30 * 24, seed=7)
    values[10 * 24 + 18 : 10 * 24 + 24] += 60  # an evening three weeks ago, far off
    values[-6:] += 12
    out = [v for v in run(DayPattern(Season(HOUR)), times, values) if v.score > 0]
    assert [math.floor((v.start - START) / 86400) for v in out] == [10, 29]
