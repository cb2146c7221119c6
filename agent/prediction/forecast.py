"""Forecasts of one stream from its own history: additive Holt-Winters on a regular grid (pure, NumPy).

The series is a regular grid of ``step_s`` (hourly means of a stream, say) with NaN for missing steps. Its
season is the time of day *in the hub's time zone*, so a daily pattern keeps its wall-clock shape across
DST changes. Level, damped trend and one seasonal term per slot learn online (exponential smoothing); the
smoothing weights are chosen by one-step error on the history (a small grid, once per refit).

Prediction intervals are empirical: the forecaster keeps the errors it made at each horizon while it ran
through the history (rolling origin), and a forecast's band is the point plus those errors' quantiles —
so they are as wide as this stream has shown them to be, not as a Gaussian assumption says.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

import msgspec
import numpy as np
import numpy.typing as npt

from agent.prediction.stats import median, quantiles

Floats = npt.NDArray[np.float64]

# (alpha, beta, gamma) candidates for level, trend and season; PHI damps the trend so that long
# horizons do not run away with it.
_ALPHAS = (0.05, 0.15, 0.3, 0.5)
_BETAS = (0.0, 0.02, 0.08)
_GAMMAS = (0.05, 0.15, 0.3)
PHI = 0.9
# One-step errors beyond this many robust spreads move the state only this far (a fault, an outlier).
HUBER_K = 3.0
# Errors kept per horizon for the intervals (about a month of hourly forecasts).
ERRORS_KEPT = 720


@dataclass(frozen=True, slots=True)
class Season:
    """How a timestamp maps to a seasonal slot: ``slots`` equal parts of the local day."""

    step_s: float = 3600.0
    tz: str = "UTC"

    @property
    def slots(self) -> int:
        """Seasonal slots a day holds at this step."""
        return max(1, round(86400 / self.step_s))

    def slot(self, ts: float) -> int:
        """The slot of unix time ``ts`` by the local wall clock."""
        return self.local(ts)[1]

    def local(self, ts: float) -> tuple[int, int]:
        """(the local date's ordinal, the slot) of unix time ``ts`` by the local wall clock."""
        local = datetime.fromtimestamp(ts, UTC).astimezone(ZoneInfo(self.tz))
        seconds = local.hour * 3600 + local.minute * 60 + local.second
        return local.toordinal(), int(seconds // self.step_s) % self.slots


@dataclass(frozen=True, slots=True)
class Forecast:
    """Point forecasts with a central prediction interval, at the given horizons (in steps)."""

    horizons: tuple[int, ...]
    times: tuple[float, ...]
    mean: tuple[float, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    level: float  # the interval's nominal coverage, e.g. 0.8


class Weights(NamedTuple):
    """Smoothing weights of level, trend and season."""

    alpha: float
    beta: float
    gamma: float


def smooth(level: float, trend: float, seasonal: float, y: float, w: Weights) -> tuple[float, float, float]:
    """One Holt-Winters step on a seen value ``y``: the new level, trend and seasonal term."""
    new_level = w.alpha * (y - seasonal) + (1 - w.alpha) * (level + PHI * trend)
    new_trend = w.beta * (new_level - level) + (1 - w.beta) * PHI * trend
    new_seasonal = w.gamma * (y - new_level) + (1 - w.gamma) * seasonal
    return new_level, new_trend, new_seasonal


class Ring:
    """The last ``size`` floats appended, in one float32 NumPy array (the precision an error needs, and
    the one it is saved in; a deque of floats costs ~8x the memory)."""

    def __init__(self, size: int) -> None:
        self._data = np.empty(size, dtype=np.float32)
        self._next = 0
        self._count = 0

    def append(self, value: float) -> None:
        """Keep ``value``, dropping the oldest once full."""
        self._data[self._next] = value
        self._next = (self._next + 1) % len(self._data)
        self._count = min(self._count + 1, len(self._data))

    def values(self) -> npt.NDArray[np.float32]:
        """What is kept (in no particular order)."""
        return self._data[: self._count]

    def __len__(self) -> int:
        return self._count

    def to_bytes(self) -> bytes:
        """What is kept, oldest first, as float32 (the precision an error or a reading needs)."""
        order = np.roll(self._data[: self._count], -self._next if self._count == len(self._data) else 0)
        return order.astype("<f4").tobytes()

    def extend(self, data: bytes) -> None:
        """Append the values ``to_bytes`` gave, in their order."""
        for value in np.frombuffer(data, dtype="<f4"):
            self.append(float(value))


@dataclass(slots=True)
class _State:
    level: float
    trend: float
    season: Floats
    last_ts: float


@dataclass
class Forecaster:
    """Holt-Winters over one stream's regular series; ``fit`` on history, then ``update`` step by step."""

    season: Season = field(default_factory=Season)
    max_horizon: int = 24
    weights: Weights = field(default_factory=lambda: Weights(0.15, 0.02, 0.15))
    # The horizons whose errors are kept for their intervals (empty: every one up to max_horizon). A hub
    # that forecasts 5, 15 and 60 steps ahead keeps 3 sets of errors, not 60; others get a wider band.
    scored: tuple[int, ...] = ()
    _state: _State | None = None
    _errors: list[Ring] = field(default_factory=list)
    _pending: list[deque[tuple[float, float]]] = field(default_factory=list)
    _abs_errors: Ring = field(default_factory=lambda: Ring(ERRORS_KEPT))

    def __post_init__(self) -> None:
        self._kept = self.scored or tuple(range(1, self.max_horizon + 1))
        self.reset()

    # -- learning --------------------------------------------------------------------------------------

    def fit(self, times: Sequence[float] | Floats, values: Sequence[float] | Floats) -> None:
        """Learn from a regular history (NaN for missing steps); the weights are chosen by one-step error."""
        ts = np.asarray(times, dtype=np.float64)
        ys = np.asarray(values, dtype=np.float64)
        slots = np.fromiter((self.season.slot(float(t)) for t in ts), dtype=np.int64, count=len(ts))
        candidates = [Weights(a, b, g) for a in _ALPHAS for b in _BETAS for g in _GAMMAS]
        scored = [(_one_step_sse(slots, ys, self.season.slots, w), w) for w in candidates]
        sse, weights = min(scored, key=lambda pair: pair[0])
        if math.isfinite(sse):
            self.weights = weights
        self.reset()
        for t, y in zip(ts, ys, strict=True):
            self.update(float(t), float(y))

    def reset(self) -> None:
        """Forget everything learned (a sensor replaced, say), keeping the smoothing weights."""
        self._state = None
        self._errors = [Ring(ERRORS_KEPT) for _ in self._kept]
        self._pending = [deque() for _ in self._kept]
        self._abs_errors = Ring(ERRORS_KEPT)

    def update(self, ts: float, y: float) -> None:
        """Take the value of the step at ``ts`` (NaN when missing: the state moves on by its forecast)."""
        state = self._state
        if state is None:
            if math.isfinite(y):
                self._state = _State(y, 0.0, np.zeros(self.season.slots), ts)
            return
        self._score(ts, y)
        slot = self.season.slot(ts)
        steps = max(1, round((ts - state.last_ts) / self.season.step_s))
        for _ in range(steps - 1):  # steps skipped entirely: let level and trend run on
            state.level += PHI * state.trend
            state.trend *= PHI
        predicted = state.level + PHI * state.trend + state.season[slot]
        if math.isfinite(y):
            state.level, state.trend, state.season[slot] = smooth(
                state.level, state.trend, state.season[slot], self._huberised(y, predicted), self.weights
            )
            self._abs_errors.append(abs(y - predicted))
        else:
            state.level += PHI * state.trend
            state.trend *= PHI
        state.last_ts = ts
        self._remember(ts)

    def _huberised(self, y: float, predicted: float) -> float:
        """``y`` pulled to within ``HUBER_K`` robust spreads of the prediction (Gelper et al. 2010), so that
        a fault or an outlier does not drag level and season along with it; it is still scored in full."""
        if len(self._abs_errors) < 24:
            return y
        spread = 1.4826 * median(self._abs_errors.values())
        bound = HUBER_K * spread
        if spread <= 0 or abs(y - predicted) <= bound:
            return y
        return predicted + math.copysign(bound, y - predicted)

    def _remember(self, ts: float) -> None:
        """Note this origin's forecasts, to score them when their steps arrive."""
        step = self.season.step_s
        for pending, h in zip(self._pending, self._kept, strict=True):
            pending.append((ts + h * step, self._point(h)))

    def _score(self, ts: float, y: float) -> None:
        for pending, errors in zip(self._pending, self._errors, strict=True):
            while pending and pending[0][0] <= ts + 1e-6:
                due, point = pending.popleft()
                if abs(due - ts) < self.season.step_s / 2 and math.isfinite(y):
                    errors.append(y - point)

    def recent_error(self, h: int) -> float | None:
        """Mean absolute error of its recent ``h``-step forecasts (None before any was scored)."""
        errors = self._errors_at(h)
        if errors is None or not len(errors):
            return None
        return float(np.mean(np.abs(errors.values())))

    def _errors_at(self, h: int) -> Ring | None:
        return self._errors[self._kept.index(h)] if h in self._kept else None

    # -- forecasting -----------------------------------------------------------------------------------

    def _point(self, h: int) -> float:
        state = self._state
        assert state is not None
        damped = sum(PHI**i for i in range(1, h + 1))
        slot = self.season.slot(state.last_ts + h * self.season.step_s)
        return float(state.level + damped * state.trend + state.season[slot])

    @property
    def last_ts(self) -> float | None:
        """The time of the last step learned (None before any)."""
        return None if self._state is None else self._state.last_ts

    @property
    def ready(self) -> bool:
        """True once it has a state to forecast from."""
        return self._state is not None

    def forecast(self, horizons: Sequence[int], level: float = 0.8) -> Forecast:
        """Point forecasts and ``level`` intervals ``horizons`` steps after the last update."""
        state = self._state
        if state is None:
            raise ValueError("nothing learned yet")
        lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
        means, lowers, uppers, times = [], [], [], []
        for h in horizons:
            if not 1 <= h <= self.max_horizon:
                raise ValueError(f"horizon {h} outside 1..{self.max_horizon}")
            point = self._point(h)
            errors = self._errors_at(h)
            if errors is not None and len(errors) >= 10:
                lo_e, hi_e = quantiles(errors.values(), (lo_q, hi_q))
            else:  # too few errors seen yet: a wide band from the one-step errors, growing with h
                spread = float(np.std(self._abs_errors.values())) if len(self._abs_errors) else 0.0
                lo_e, hi_e = -2 * spread * math.sqrt(h), 2 * spread * math.sqrt(h)
            means.append(point)
            lowers.append(point + float(lo_e))
            uppers.append(point + float(hi_e))
            times.append(state.last_ts + h * self.season.step_s)
        return Forecast(tuple(horizons), tuple(times), tuple(means), tuple(lowers), tuple(uppers), level)


class _Saved(msgspec.Struct, array_like=True):
    """A forecaster's learned state as it is kept between runs (see ``Forecaster.to_bytes``)."""

    weights: tuple[float, float, float]
    level: float
    trend: float
    season: bytes
    last_ts: float
    errors: list[bytes]
    pending: list[list[tuple[float, float]]]
    abs_errors: bytes


def to_bytes(model: Forecaster) -> bytes:
    """``model``'s learned state, to keep in the store (None-state models are not saved)."""
    state = model._state
    if state is None:
        raise ValueError("nothing learned yet")
    return msgspec.msgpack.encode(
        _Saved(
            (float(model.weights.alpha), float(model.weights.beta), float(model.weights.gamma)),
            float(state.level),
            float(state.trend),
            state.season.astype("<f8").tobytes(),
            float(state.last_ts),
            [ring.to_bytes() for ring in model._errors],
            [[(float(due), float(point)) for due, point in p] for p in model._pending],
            model._abs_errors.to_bytes(),
        )
    )


def from_bytes(data: bytes, *, season: Season, max_horizon: int, scored: tuple[int, ...] = ()) -> Forecaster:
    """A forecaster as ``to_bytes`` kept it; ValueError when ``data`` is not one for these settings."""
    try:
        saved = msgspec.msgpack.decode(data, type=_Saved)
    except msgspec.DecodeError as exc:
        raise ValueError(f"not a saved forecaster: {exc}") from None
    values = np.frombuffer(saved.season, dtype="<f8").copy()
    model = Forecaster(season=season, max_horizon=max_horizon, weights=Weights(*saved.weights), scored=scored)
    horizons = len(model._kept)
    if len(values) != season.slots or len(saved.errors) != horizons or len(saved.pending) != horizons:
        raise ValueError("saved with other settings")
    model._state = _State(saved.level, saved.trend, values, saved.last_ts)
    for ring, kept in zip(model._errors, saved.errors, strict=True):
        ring.extend(kept)
    model._pending = [deque(p) for p in saved.pending]
    model._abs_errors.extend(saved.abs_errors)
    return model


def _one_step_sse(slots: npt.NDArray[np.int64], ys: Floats, n_slots: int, w: Weights) -> float:
    """Sum of squared one-step errors of Holt-Winters with weights ``w`` over the history."""
    seen = np.flatnonzero(np.isfinite(ys))
    if not len(seen):
        return math.inf
    start = int(seen[0])
    level, trend = float(ys[start]), 0.0
    season = np.zeros(n_slots)
    sse = 0.0
    # The season starts at zero: the first two seasons' errors say how fast the weights unlearn that start,
    # not how well they forecast, and would favour a level that chases the daily cycle. Score after them
    # when the history is long enough to leave a season to score.
    scored_from = start + 2 * n_slots if len(ys) - start > 3 * n_slots else start
    for i in range(start + 1, len(ys)):
        slot = int(slots[i])
        y = float(ys[i])
        if math.isfinite(y):
            if i >= scored_from:
                sse += (y - (level + PHI * trend + season[slot])) ** 2
            level, trend, season[slot] = smooth(level, trend, season[slot], y, w)
        else:
            level += PHI * trend
            trend *= PHI
    return sse
