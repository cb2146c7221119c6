"""Battery life: when a sensor's battery runs out, with an interval, from its own readings (pure).

A battery reading (percent or volts) falls slowly and noisily, with jumps up when the battery is replaced.
The estimate uses the readings since the last replacement: the Theil-Sen slope (the median of pairwise
slopes, robust to outliers and the odd stuck value) with Sen's rank-based confidence interval (Gilbert
1987, normal approximation), and extrapolates to ``empty``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from agent.prediction.stats import median

# z for a central 80 % interval.
_Z80 = 1.2815515655446004
# A rise of this many units (percent points) between readings means a new battery.
REPLACED_RISE = 10.0
MIN_POINTS = 8


@dataclass(frozen=True, slots=True)
class BatteryEstimate:
    """When the battery reaches ``empty``, with an 80 % interval (unix times; None: not falling)."""

    empty_at: float | None
    earliest: float | None
    latest: float | None
    slope_per_day: float
    points: int

    def days_left(self, now: float) -> float | None:
        """Days from ``now`` until the estimated empty time (None when not falling)."""
        return None if self.empty_at is None else max(0.0, (self.empty_at - now) / 86400)


def estimate(
    times: Sequence[float], levels: Sequence[float], *, empty: float = 0.0
) -> BatteryEstimate | None:
    """Estimate when ``levels`` reach ``empty``; None with fewer than ``MIN_POINTS`` since a replacement."""
    ts = np.asarray(times, dtype=np.float64)
    ys = np.asarray(levels, dtype=np.float64)
    keep = np.isfinite(ys)
    ts, ys = ts[keep], ys[keep]
    rises = np.flatnonzero(np.diff(ys) >= REPLACED_RISE)
    if len(rises):
        start = int(rises[-1]) + 1
        ts, ys = ts[start:], ys[start:]
    n = len(ts)
    if n < MIN_POINTS:
        return None
    i, j = np.triu_indices(n, k=1)
    dt = ts[j] - ts[i]
    usable = dt > 0
    slopes = np.sort((ys[j] - ys[i])[usable] / dt[usable])
    if not len(slopes):
        return None
    slope = median(slopes)
    # Sen's interval: ranks of the ordered slopes around the median, from the variance of Kendall's S.
    c = _Z80 * math.sqrt(n * (n - 1) * (2 * n + 5) / 18)
    m = len(slopes)
    lower_slope = float(slopes[max(0, math.floor((m - c) / 2))])
    upper_slope = float(slopes[min(m - 1, math.ceil((m + c) / 2))])
    # The line through the median point with the median slope (Theil-Sen's intercept).
    t0, y0 = median(ts), median(ys)
    last = float(ts[-1])
    level_now = y0 + slope * (last - t0)

    def when_empty(rate: float) -> float | None:
        if rate >= 0:
            return None
        return last + max(0.0, (level_now - empty) / -rate)

    return BatteryEstimate(
        empty_at=when_empty(slope),
        # The steeper fall empties sooner.
        earliest=when_empty(lower_slope),
        latest=when_empty(upper_slope),
        slope_per_day=slope * 86400,
        points=n,
    )
