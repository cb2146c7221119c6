"""Day-pattern anomalies: a part of the day unlike the same part of the days before it (pure, NumPy).

The step detector (``anomaly.py``) compares each step with the forecaster's one-step interval, and the
forecaster follows a stream that slowly changes, so a freezer that draws a third more every evening is
soon "expected". This compares each part of the local day as a whole — the mean of its steps over the
night (00-06 h), morning, afternoon or evening — with the same part on each of the last ``days`` days.
The statistics are robust (median and median absolute deviation), so one odd day in the history does not
widen what is normal. A part is out when its mean lies more than ``K`` robust spreads from their median (and
beyond every one of those days that was itself within that band); with fewer than ``MIN_DAYS``
comparable days it is not judged.

Kept per stream: one float32 mean per part per day (29 days x 4 parts: 464 bytes) and the part in progress.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import msgspec
import numpy as np

from agent.prediction.forecast import Season
from agent.prediction.stats import median

K = 5.0  # robust spreads (1.4826 x MAD ~ one standard deviation) from the median that count as out
MIN_DAYS = 7  # comparable days needed before a part is judged at all
REL_FLOOR = 0.01  # the spread is at least this share of the median (a flat history is not infinitely strict)
PART_S = 6 * 3600  # a part of the day: night, morning, afternoon, evening
_NAMES = ("night", "morning", "afternoon", "evening")


@dataclass(frozen=True, slots=True)
class PartVerdict:
    """One finished part of a day against the same part of the days before it."""

    part: str  # "evening", or "16-24h" when the step is longer than a part
    start: float  # the start of its first step
    end: float  # the end of its last step
    mean: float
    expected_low: float
    expected_high: float
    days: int  # comparable days it was judged against
    score: float  # 0 inside the expected range; else 1 + how far out, in half-widths of the range


@dataclass
class DayPattern:
    """Folds a stream's steps into parts of local days; ``step`` returns the verdicts of parts it finishes."""

    season: Season = field(default_factory=Season)
    days: int = 28
    k: float = K
    min_days: int = MIN_DAYS

    def __post_init__(self) -> None:
        # Whole steps per part (at least one): 6 with hourly steps; a 4 h step makes parts of 8 h.
        self.part_slots = max(1, round(PART_S / self.season.step_s))
        self.parts = math.ceil(self.season.slots / self.part_slots)
        # A row per local day (today's too, so that the last ``days`` days are all there to compare).
        self._ordinals = np.full(self.days + 1, -1, dtype=np.int32)
        self._means = np.full((self.days + 1, self.parts), np.nan, dtype=np.float32)
        self._current: tuple[int, int] | None = None  # (local day, part) being filled
        self._done: tuple[int, int] | None = None  # the part finished last (a repeated DST hour)
        self._total = 0.0
        self._count = 0
        self._start = 0.0
        self._last = 0.0

    def name(self, part: int) -> str:
        """What a part is called: ``evening`` with 6 h parts, else its hours (``16-24h``)."""
        hours = self.part_slots * self.season.step_s / 3600
        if hours == 6 and self.parts == 4:
            return _NAMES[part]
        return f"{part * hours:g}-{min(24, (part + 1) * hours):g}h"

    def step(self, ts: float, value: float) -> list[PartVerdict]:
        """Take the mean of the step starting at ``ts`` (NaN: missing); return the parts this finishes."""
        ordinal, slot = self.season.local(ts)
        key = (ordinal, slot // self.part_slots)
        verdicts = []
        if self._current is not None and key != self._current:
            verdicts += self._finish()
        if key == self._done:
            return verdicts  # the repeated hour of a DST change, after its part was judged
        if self._current is None:
            self._current, self._total, self._count, self._start = key, 0.0, 0, ts
        if math.isfinite(value):
            self._total += value
            self._count += 1
        self._last = ts
        if slot % self.part_slots == self.part_slots - 1 or slot == self.season.slots - 1:
            verdicts += self._finish()
        return verdicts

    def _finish(self) -> list[PartVerdict]:
        current = self._current
        assert current is not None
        self._current, self._done = None, current
        ordinal, part = current
        slots = min(self.part_slots, self.season.slots - part * self.part_slots)
        if self._count * 2 < slots:  # less than half the part seen: neither judged nor kept
            return []
        mean = self._total / self._count
        verdict = self._judge(ordinal, part, mean)
        row = ordinal % (self.days + 1)
        if self._ordinals[row] != ordinal:
            self._ordinals[row] = ordinal
            self._means[row] = np.nan
        self._means[row, part] = mean
        return [] if verdict is None else [verdict]

    def _judge(self, ordinal: int, part: int, mean: float) -> PartVerdict | None:
        before = (self._ordinals < ordinal) & (self._ordinals >= ordinal - self.days)
        seen = self._means[before, part].astype(np.float64)
        seen = seen[np.isfinite(seen)]
        if len(seen) < self.min_days:
            return None
        middle = median(seen)
        spread = max(1.4826 * median(np.abs(seen - middle)), REL_FLOOR * abs(middle), 1e-9)
        low, high = middle - self.k * spread, middle + self.k * spread
        usual = seen[(seen >= low) & (seen <= high)]  # never narrower than the days that were usual
        low, high = min(low, float(usual.min(initial=low))), max(high, float(usual.max(initial=high)))
        half = (high - low) / 2
        score = 0.0
        if mean > high:
            score = 1.0 + (mean - high) / half
        elif mean < low:
            score = 1.0 + (low - mean) / half
        end = self._last + self.season.step_s
        return PartVerdict(self.name(part), self._start, end, mean, low, high, len(seen), round(score, 3))


class _Saved(msgspec.Struct, array_like=True):
    """A ``DayPattern`` as it is kept between runs."""

    days: int
    ordinals: bytes
    means: bytes
    current: tuple[int, int] | None
    done: tuple[int, int] | None
    total: float
    count: int
    start: float
    last: float


def to_bytes(pattern: DayPattern) -> bytes:
    """``pattern``'s days and the part in progress, to keep in the store."""
    return msgspec.msgpack.encode(
        _Saved(
            pattern.days,
            pattern._ordinals.astype("<i4").tobytes(),
            pattern._means.astype("<f4").tobytes(),
            pattern._current,
            pattern._done,
            pattern._total,
            pattern._count,
            pattern._start,
            pattern._last,
        )
    )


def from_bytes(data: bytes, *, season: Season, days: int) -> DayPattern:
    """A ``DayPattern`` as ``to_bytes`` kept it; ValueError when ``data`` is not one for these settings."""
    try:
        saved = msgspec.msgpack.decode(data, type=_Saved)
    except msgspec.DecodeError as exc:
        raise ValueError(f"not a saved day pattern: {exc}") from None
    pattern = DayPattern(season=season, days=days)
    ordinals = np.frombuffer(saved.ordinals, dtype="<i4")
    means = np.frombuffer(saved.means, dtype="<f4")
    rows = days + 1
    if saved.days != days or len(ordinals) != rows or len(means) != rows * pattern.parts:
        raise ValueError("saved with other settings")
    pattern._ordinals = ordinals.astype(np.int32)
    pattern._means = means.reshape(rows, pattern.parts).astype(np.float32)
    pattern._current, pattern._done = saved.current, saved.done
    pattern._total, pattern._count = saved.total, saved.count
    pattern._start, pattern._last = saved.start, saved.last
    return pattern
