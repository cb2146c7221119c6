"""Anomalies: a value that stays outside what the hub has learned to expect, for long enough (pure).

Not a fixed threshold: each step is compared with the forecaster's one-step-ahead interval for that very
step (which carries the daily pattern), and only a run of ``min_steps`` consecutive steps outside it is an
anomaly, so one odd reading is not. Its score is how far out it went, in half-widths of the interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

REL_FLOOR = 0.0001  # the smallest half-width a score is counted in, as a share of the expected value


@dataclass(frozen=True, slots=True)
class Anomaly:
    """A run of steps outside the expected range: when it began, how far out it went, what was expected."""

    start: float
    end: float
    score: float
    value: float
    expected_low: float
    expected_high: float


@dataclass
class AnomalyDetector:
    """Turns (time, value, expected interval) steps into anomalies; ``step`` returns one when a run ends."""

    min_steps: int = 2
    _run: list[tuple[float, float, float, float, float]] | None = None

    def step(self, ts: float, value: float, low: float, high: float) -> Anomaly | None:
        """Take one step; an anomaly is returned when a long enough run outside [low, high] ends."""
        if not math.isfinite(value):
            return None
        # A stream the forecaster predicts perfectly (a setpoint, a simulated sensor) has an interval of
        # no width; the score's unit is then at least a ten-thousandth of the expected value, so a 1 %
        # step off it scores about 100 (a big miss, as it is), not 1e8 (a division by almost nothing).
        half = max((high - low) / 2, REL_FLOOR * max(abs(low), abs(high)), 1e-9)
        outside = value < low or value > high
        if outside:
            distance = (low - value if value < low else value - high) / half + 1.0
            self._run = [*(self._run or []), (ts, value, low, high, distance)]
            return None
        return self._close()

    def open_run(self) -> Anomaly | None:
        """The anomaly in progress, once it is long enough to count (for a live ``anomaly.*`` event)."""
        run = self._run
        if run is None or len(run) < self.min_steps:
            return None
        return _summarise(run)

    def _close(self) -> Anomaly | None:
        run, self._run = self._run, None
        if run is None or len(run) < self.min_steps:
            return None
        return _summarise(run)


def _summarise(run: list[tuple[float, float, float, float, float]]) -> Anomaly:
    worst = max(run, key=lambda step: step[4])
    return Anomaly(
        start=run[0][0],
        end=run[-1][0],
        score=round(worst[4], 3),
        value=worst[1],
        expected_low=worst[2],
        expected_high=worst[3],
    )
