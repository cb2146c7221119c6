"""The prediction feature: the recorder's feed → per-step means → forecasters → prediction strands.

For every stream ``[prediction] streams`` names, the listener folds the readings of each ``step`` into
one mean; when a step is over, its forecaster learns it (Holt-Winters, ``forecast.py``), the anomaly
detector compares it with the range the forecaster expected for it (``anomaly.py``), the day pattern
compares each finished part of the day with the same part of the days before (``pattern.py``), and the
new forecasts go out as ``forecast.<stream>.<horizon>`` strands through the feature's own sink. Battery
streams (quantity ``battery``) are kept one point per step and estimated (``battery.py``). The strand
format is described in ``agent.prediction.strands``.

At start the service reads the forecasters' saved state from the readings file and the history after it
(raw readings and rollups); a stream without a saved state (or one saved with other settings) is learned
afresh from ``history``. State is saved every ``SAVE_EVERY`` steps and when the hub closes its files.
Forgetting a stream drops what was learned of it; forgetting only a strand made from it (a forecast, its
anomalies, a battery estimate) drops it too, and it is learned afresh from the stream's history.
"""

from __future__ import annotations

import asyncio
import logging
import math
import sqlite3
import time
from array import array
from collections import deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np

from agent.config.durations import seconds
from agent.prediction import pattern as day_pattern
from agent.prediction import strands
from agent.prediction.anomaly import AnomalyDetector
from agent.prediction.battery import estimate
from agent.prediction.forecast import Forecaster, Season, from_bytes, to_bytes
from agent.prediction.pattern import DayPattern, PartVerdict
from agent.readings import Reading, StreamInfo
from agent.store import forecasts as store
from agent.store.sqlite import Refusals

if TYPE_CHECKING:
    from agent.config.schema import Config
    from agent.hub import Hub
    from agent.pipeline.sink import Sink
    from agent.store.readings import ReadingsStore

log = logging.getLogger(__name__)

History = tuple["array[int]", "array[float]"]  # a stream's step indices with values, and their means

SAVE_EVERY = 6  # steps a stream learns between saves of its state
MAX_FIT_STEPS = 2000  # steps of history a forecaster learns from at most when it starts afresh
BATTERY_POINTS = 512  # points kept per battery; when full, every other one is dropped (the span stays)
BACKLOG = 100_000  # readings kept while the history loads
_IGNORED_DEVICES = {*strands.DEVICES, "context", strands.LABELS}


@dataclass(frozen=True, slots=True)
class Settings:
    """``[prediction]`` in the units the feature works in."""

    patterns: tuple[str, ...]
    step: float
    horizons: tuple[int, ...]  # in steps
    level: float
    min_steps: int
    history_s: float
    battery: bool
    warning_days: float
    tz: str
    pattern_days: int = 28

    @classmethod
    def of(cls, config: Config) -> Settings:
        """The settings of ``config``'s ``[prediction]`` section (which must be present)."""
        section = config.prediction
        assert section is not None
        step = seconds(section.step)
        return cls(
            patterns=tuple(section.streams),
            step=step,
            horizons=tuple(sorted({round(seconds(h) / step) for h in section.horizons})),
            level=section.level,
            min_steps=max(1, math.ceil(seconds(section.anomaly_min_duration) / step)),
            history_s=seconds(section.history),
            battery=section.battery,
            warning_days=section.battery_warning_days,
            tz=config.hub.timezone,
            pattern_days=section.anomaly_days,
        )

    @property
    def max_horizon(self) -> int:
        """The longest horizon, in steps."""
        return max(self.horizons)

    @property
    def scored(self) -> tuple[int, ...]:
        """The horizons whose errors the forecasters keep: the configured ones, and one step (anomalies)."""
        return tuple(sorted({1, *self.horizons}))

    @property
    def fingerprint(self) -> str:
        """What a saved state depends on: it is rebuilt from history when this changes."""
        kept = ",".join(str(h) for h in self.scored)
        return f"hw3 step={self.step:g} horizons={kept} tz={self.tz} days={self.pattern_days}"

    @property
    def season(self) -> Season:
        """The forecasters' grid and season."""
        return Season(self.step, self.tz)


def forecasts(patterns: Sequence[str], stream: str) -> bool:
    """True when one of ``patterns`` names ``stream`` (and it is not itself a derived strand)."""
    parts = stream.split(".")
    if len(parts) < 2 or parts[0] in _IGNORED_DEVICES:
        return False
    for pattern in patterns:
        wanted = pattern.split(".")
        if len(wanted) == len(parts) and all(fnmatchcase(n, p) for p, n in zip(wanted, parts, strict=True)):
            return True
    return False


def battery_device(stream: str) -> str | None:
    """The device whose battery ``stream`` reports (``porch.battery`` → ``porch``), or None."""
    device, _, quantity = stream.rpartition(".")
    if not device or quantity != "battery" or device.split(".")[0] in _IGNORED_DEVICES:
        return None
    return device


@dataclass(slots=True)
class Tracked:
    """One forecast stream: its forecaster, anomaly detector, day pattern and the step being filled."""

    name: str
    model: Forecaster
    detector: AnomalyDetector
    pattern: DayPattern
    unit: str = ""
    step: int | None = None
    total: float = 0.0
    count: int = 0
    anomalous: bool = False  # a run of steps outside the forecast interval is in progress
    pattern_out: bool = False  # the last part of the day judged was out of its usual range
    unsaved: int = 0
    declared: bool = False
    last_forecast: tuple[float, tuple[float, ...], tuple[float, ...], tuple[float, ...]] | None = None


@dataclass(slots=True)
class Battery:
    """One device's battery: a point per step, the latest estimate, whether it was reported low."""

    device: str
    times: list[float] = field(default_factory=list)
    levels: list[float] = field(default_factory=list)
    step: int | None = None
    total: float = 0.0
    count: int = 0
    low: bool | None = None
    days_left: float | None = None
    declared: bool = False

    def add(self, ts: float, level: float) -> None:
        """Keep one point (thinning to every other point when full)."""
        self.times.append(ts)
        self.levels.append(level)
        if len(self.times) > BATTERY_POINTS:
            self.times, self.levels = self.times[::2], self.levels[::2]


@dataclass(slots=True)
class Relearning:
    """A stream being learned afresh: its unit, whether its strands were declared, its held readings."""

    unit: str
    declared: bool
    held: list[Reading] = field(default_factory=list)


class Prediction:
    """The feature's object: forecasters by stream, batteries by device, and what it has done."""

    def __init__(
        self, settings: Settings, sink: Sink | None, stream_id: Callable[[str], int | None] = lambda _: None
    ) -> None:
        self.settings = settings
        self.sink = sink
        self._stream_id = stream_id  # the id the readings file records a stream under now (None: not)
        # Streams the owner forgot, with the id they had: ignored until recorded again under a new one.
        self._forgotten: dict[str, int | None] = {}
        # Streams whose derived strands the owner forgot: learned afresh from their history, and their
        # live readings held until that is done.
        self._relearning: dict[str, Relearning] = {}
        self.streams: dict[str, Tracked] = {}
        self.batteries: dict[str, Battery] = {}
        self.ready = asyncio.Event()
        self.saved = asyncio.Event()  # set after each save (tests wait on it)
        self.fresh: list[str] = []  # streams learned afresh from history at start (no usable saved state)
        self._role: dict[str, str | None] = {}
        self._backlog: deque[Reading] = deque(maxlen=BACKLOG)
        self._dirty = asyncio.Event()
        self._refusals: Refusals | None = None  # why saves fail now (made with the hub's data folder)
        self.stats = {
            "steps": 0,
            "forecasts": 0,
            "anomalies": 0,
            "pattern_anomalies": 0,
            "battery_estimates": 0,
            "saves": 0,
        }

    # -- the live feed ---------------------------------------------------------------------------------

    def on_readings(self, readings: Sequence[Reading]) -> None:
        """Recorder listener: fold readings into steps; a finished step is learned at once."""
        if not self.ready.is_set():
            # Only what ``_take`` would use waits: a hub with a 300 Hz plug and an IMU beside its
            # forecast rooms would otherwise hold every one of their readings while the history loads.
            role, forgotten = self._role_of, self._forgotten
            self._backlog.extend(r for r in readings if role(r[0]) is not None or r[0] in forgotten)
            return
        for reading in readings:
            self._take(reading)

    def _role_of(self, stream: str) -> str | None:
        role = self._role.get(stream, "?")
        if role == "?":
            role = None
            if forecasts(self.settings.patterns, stream):
                role = "forecast"
            elif self.settings.battery and battery_device(stream) is not None:
                role = "battery"
            self._role[stream] = role
        return role

    def _take(self, reading: Reading) -> None:
        stream, ts, value = reading[0], reading[1], reading[2]
        relearning = self._relearning.get(stream)
        if relearning is not None:
            relearning.held.append(reading)
            return
        if stream in self._forgotten:
            if self._stream_id(stream) in (None, self._forgotten[stream]):
                return  # not recorded (a source goes on sending it): not learned either
            del self._forgotten[stream]  # declared again after the forget: learned afresh
        role = self._role_of(stream)
        if role is None or not math.isfinite(value):
            return
        index = int(ts // self.settings.step)
        if role == "forecast":
            tracked = self.streams.get(stream) or self._track(stream)
            if tracked.step is not None and index > tracked.step:
                self._close(tracked)
            if tracked.step is None or index > tracked.step:
                tracked.step, tracked.total, tracked.count = index, 0.0, 0
            if index == tracked.step:  # a late reading of a step already learned is dropped
                tracked.total += value
                tracked.count += 1
        else:
            device = battery_device(stream)
            assert device is not None
            battery = self.batteries.setdefault(device, Battery(device))
            if battery.step is not None and index > battery.step and battery.count:
                battery.add((battery.step + 0.5) * self.settings.step, battery.total / battery.count)
                self._estimate(battery, ts)
            if battery.step is None or index > battery.step:
                battery.step, battery.total, battery.count = index, 0.0, 0
            if index == battery.step:
                battery.total += value
                battery.count += 1

    def _track(self, stream: str, unit: str = "") -> Tracked:
        settings = self.settings
        tracked = Tracked(
            stream,
            Forecaster(season=settings.season, max_horizon=settings.max_horizon, scored=settings.scored),
            AnomalyDetector(settings.min_steps),
            DayPattern(settings.season, settings.pattern_days),
            unit,
        )
        self.streams[stream] = tracked
        return tracked

    def _close(self, tracked: Tracked) -> None:
        if tracked.step is None or not tracked.count:
            return
        ts = tracked.step * self.settings.step
        self.learn(tracked, ts, tracked.total / tracked.count)
        self.emit_forecast(tracked)
        tracked.unsaved += 1
        if tracked.unsaved >= SAVE_EVERY:
            self._dirty.set()

    def on_forget(self, streams: Collection[str]) -> None:
        """The owner forgets ``streams``: drop their forecasters and batteries, and learn them again only
        once a source declares them anew. A strand made from a stream that is kept (a forecast, its
        anomalies, a battery estimate) drops what was learned of that stream too: it is learned afresh
        from the stream's history, as at a start without a saved state."""
        for name in streams:
            source = strands.source_of(name)
            if source is not None:
                if source not in streams:
                    self._relearn(source)
                continue
            self._forgotten[name] = self._stream_id(name)
            self._role.pop(name, None)
            if self.streams.pop(name, None) is not None:
                log.info("prediction: %s forgotten", name)
            device = battery_device(name)
            if device is not None:
                self.batteries.pop(device, None)
        if self._backlog:
            self._backlog = deque((r for r in self._backlog if r[0] not in self._forgotten), maxlen=BACKLOG)

    def _relearn(self, stream: str) -> None:
        if stream in self._relearning or stream in self._forgotten:
            return
        tracked = self.streams.pop(stream, None)
        device = battery_device(stream)
        battery = None if device is None else self.batteries.pop(device, None)
        if tracked is None and battery is None:
            return
        log.info("prediction: what was learned of %s is forgotten; learning it afresh", stream)
        # Its strands stay declared as they were: a forgotten one is not recorded again until a restart.
        declared = (tracked is not None and tracked.declared) or (battery is not None and battery.declared)
        self._relearning[stream] = Relearning("" if tracked is None else tracked.unit, declared)
        self._dirty.set()

    async def relearn(self, hub: Hub) -> None:
        """Learn the streams whose derived strands were forgotten afresh from their history, then take
        their readings that waited."""
        relearning = dict(self._relearning)
        settings = self.settings
        end = math.floor(time.time() / settings.step) * settings.step
        for name, again in relearning.items():
            if self._role_of(name) == "forecast":
                self._track(name, again.unit).declared = again.declared
            elif (device := battery_device(name)) is not None:
                self.batteries[device] = Battery(device, declared=again.declared)
        history = await self._history(hub, list(relearning), {}, end - settings.history_s, end)
        await asyncio.to_thread(self.learn_history, history, list(relearning))
        for name, again in relearning.items():
            del self._relearning[name]
            tracked = self.streams.get(name)
            if tracked is not None:
                self.emit_forecast(tracked)
            device = battery_device(name)
            battery = None if device is None else self.batteries.get(device)
            if battery is not None and battery.times:
                self._estimate(battery, battery.times[-1])
            for reading in again.held:
                self._take(reading)

    # -- learning and what it sends --------------------------------------------------------------------

    def learn(self, tracked: Tracked, ts: float, value: float, *, live: bool = True) -> None:
        """Learn the mean ``value`` of the step starting at ``ts``; check it against what was expected."""
        model = tracked.model
        if model.ready:
            state_ts = model.last_ts
            if state_ts is None or ts <= state_ts:
                return
            ahead = round((ts - state_ts) / self.settings.step)
            if 1 <= ahead <= self.settings.max_horizon:
                expected = model.forecast([ahead], self.settings.level)
                self._check(tracked, ts, value, expected.lower[0], expected.upper[0], live=live)
        model.update(ts, value)
        for verdict in tracked.pattern.step(ts, value):
            self._judged(tracked, verdict, live=live)
        self.stats["steps"] += 1

    def _check(
        self, tracked: Tracked, ts: float, value: float, low: float, high: float, *, live: bool
    ) -> None:
        detector = tracked.detector
        detector.step(ts, value, low, high)
        running = detector.open_run()
        at = ts + self.settings.step
        if running is not None and not tracked.anomalous:
            tracked.anomalous = True
            self.stats["anomalies"] += 1
            if live:
                log.info("anomaly on %s: score %.2f", tracked.name, running.score)
            self._send(
                tracked,
                Reading(
                    strands.anomaly_strand(tracked.name),
                    at,
                    running.score,
                    strands.expected_label(running.expected_low, running.expected_high, running.value),
                ),
            )
        elif tracked.anomalous and running is None:
            tracked.anomalous = False
            if tracked.pattern_out:
                return  # the strand stays out while the day pattern is
            self._send(
                tracked,
                Reading(
                    strands.anomaly_strand(tracked.name), at, 0.0, strands.expected_label(low, high, value)
                ),
            )

    def _judged(self, tracked: Tracked, verdict: PartVerdict, *, live: bool) -> None:
        """A part of the day was judged against the same part of the days before: an event when it is
        out, and one when the next part judged is usual again (unless steps are out then)."""
        label = strands.pattern_label(
            verdict.expected_low, verdict.expected_high, verdict.mean, verdict.part, verdict.days
        )
        strand = strands.anomaly_strand(tracked.name)
        if verdict.score > 0:
            tracked.pattern_out = True
            self.stats["pattern_anomalies"] += 1
            if live:
                log.info("anomaly on %s: its %s, score %.2f", tracked.name, verdict.part, verdict.score)
            self._send(tracked, Reading(strand, verdict.end, verdict.score, label))
        elif tracked.pattern_out:
            tracked.pattern_out = False
            if not tracked.anomalous:
                self._send(tracked, Reading(strand, verdict.end, 0.0, label))

    def emit_forecast(self, tracked: Tracked) -> None:
        """Send the forecasts from the forecaster's latest step, one strand per horizon."""
        model, settings = tracked.model, self.settings
        last = model.last_ts
        if last is None:
            return
        made = model.forecast(settings.horizons, settings.level)
        at = last + settings.step
        tracked.last_forecast = (at, made.mean, made.lower, made.upper)
        self.stats["forecasts"] += 1
        for h, mean, low, high in zip(settings.horizons, made.mean, made.lower, made.upper, strict=True):
            strand = strands.forecast_strand(tracked.name, h * settings.step)
            label = strands.interval_label(settings.level, low, high)
            self._send(tracked, Reading(strand, at, round(mean, 4), label))

    def _send(self, tracked: Tracked, reading: Reading) -> None:
        sink = self.sink
        if sink is None:
            return
        if not tracked.declared:
            tracked.declared = True
            for h in self.settings.horizons:
                strand = strands.forecast_strand(tracked.name, h * self.settings.step)
                sink.declare(StreamInfo(strand, strands.FORECAST, strand.partition(".")[2], tracked.unit))
            strand = strands.anomaly_strand(tracked.name)
            sink.declare(StreamInfo(strand, strands.ANOMALY, tracked.name))
        sink.put_nowait(reading)

    def _estimate(self, battery: Battery, now: float) -> None:
        found = estimate(battery.times, battery.levels)
        if found is None or found.empty_at is None:
            return
        self.stats["battery_estimates"] += 1
        days = found.days_left(now)
        assert days is not None
        battery.days_left = days
        earliest = (
            found.days_left(now) if found.earliest is None else max(0.0, (found.earliest - now) / 86400)
        )
        latest = math.inf if found.latest is None else max(0.0, (found.latest - now) / 86400)
        days_strand, low_strand = strands.battery_strands(battery.device)
        sink = self.sink
        if sink is None:
            return
        if not battery.declared:
            battery.declared = True
            sink.declare(StreamInfo(days_strand, strands.BATTERY, days_strand.partition(".")[2], "d"))
            sink.declare(StreamInfo(low_strand, strands.BATTERY, low_strand.partition(".")[2]))
        label = strands.interval_label(0.8, earliest or 0.0, latest if math.isfinite(latest) else 1e6)
        sink.put_nowait(Reading(days_strand, now, round(days, 2), label))
        low = days < self.settings.warning_days
        if low != battery.low:
            battery.low = low
            if low:
                log.warning("battery of %s runs out in about %.0f days", battery.device, days)
            sink.put_nowait(Reading(low_strand, now, 1.0 if low else 0.0, f"{days:.1f} days left"))

    # -- state -----------------------------------------------------------------------------------------

    def states(self, *, only_unsaved: bool) -> dict[str, bytes]:
        """The learned state of each stream (of those that learned since their last save)."""
        out = {}
        for name, tracked in self.streams.items():
            if tracked.model.ready and (tracked.unsaved or not only_unsaved):
                out[name] = encode_state(tracked.model, tracked.pattern)
                tracked.unsaved = 0
        return out

    def restore(self, saved: dict[str, bytes], units: dict[str, str]) -> list[str]:
        """Track every stream that is forecast; take its saved state if it has one; return those without."""
        settings = self.settings
        fresh = []
        for name, unit in units.items():
            if name in self._forgotten or self._role_of(name) != "forecast":
                continue
            tracked = self._track(name, unit)
            data = saved.get(name)
            if data is not None:
                try:
                    tracked.model, tracked.pattern = decode_state(data, settings)
                    continue
                except ValueError as exc:
                    log.warning("forecast state of %s cannot be used (%s): learning it afresh", name, exc)
            fresh.append(name)
        return fresh

    def learn_history(self, history: dict[str, History], fresh: Sequence[str]) -> None:
        """Learn each stream's history (``fit`` for a fresh one, step by step after a saved state)."""
        step = self.settings.step
        for name, (indices, means) in history.items():
            if name in self._forgotten:
                continue  # forgotten while the history loaded
            if self._role_of(name) == "battery":
                device = battery_device(name)
                assert device is not None
                battery = self.batteries.setdefault(device, Battery(device))
                for index, mean in zip(indices, means, strict=True):
                    battery.add((index + 0.5) * step, mean)
                continue
            tracked = self.streams.get(name)
            if tracked is None or not indices:
                continue
            if name not in fresh:
                for index, mean in zip(indices, means, strict=True):
                    self.learn(tracked, index * step, mean, live=False)
                continue
            first = max(0, len(indices) - MAX_FIT_STEPS)
            # The weights are fitted on all but the last day, which is then learned step by step and
            # checked against what was expected, so a fault in the hours before the start is reported.
            # (Only with three days to fit on: with less the daily pattern is not known well enough.)
            slots = self.settings.season.slots
            split = len(indices) - slots if len(indices) - first >= 4 * slots else len(indices)
            fitted = np.asarray(indices[first:split], dtype=np.int64)
            values = np.full(int(fitted[-1] - fitted[0]) + 1, np.nan)
            values[fitted - fitted[0]] = means[first:split]
            grid = np.arange(fitted[0], fitted[-1] + 1, dtype=np.float64)
            tracked.model.fit(grid * step, values)
            for index, mean in zip(indices[first:split], means[first:split], strict=True):
                tracked.pattern.step(index * step, mean)  # the days before, for the day pattern
            self.stats["steps"] += len(fitted)
            for index, mean in zip(indices[split:], means[split:], strict=True):
                self.learn(tracked, index * step, mean, live=False)

    def start_live(self) -> None:
        """History is learned: send the current forecasts, then take the readings that waited."""
        for tracked in self.streams.values():
            self.emit_forecast(tracked)
        for battery in self.batteries.values():
            if battery.times:
                self._estimate(battery, battery.times[-1])
        self.ready.set()
        backlog, self._backlog = self._backlog, deque()
        for reading in backlog:
            self._take(reading)

    # -- reporting -------------------------------------------------------------------------------------

    def live(self) -> dict[str, Any]:
        """Each stream's latest forecast and recent accuracy, each battery's estimate, the counters."""
        settings = self.settings
        out: dict[str, Any] = {"streams": {}, "batteries": {}, "stats": dict(self.stats)}
        for name, tracked in sorted(self.streams.items()):
            errors = {
                strands.horizon_name(h * settings.step): tracked.model.recent_error(h)
                for h in settings.horizons
            }
            out_now = tracked.anomalous or tracked.pattern_out  # either kind of anomaly
            entry: dict[str, Any] = {"ready": tracked.model.ready, "anomalous": out_now}
            entry["recent_mae"] = errors
            if tracked.last_forecast is not None:
                at, mean, lower, upper = tracked.last_forecast
                entry["made_at"] = at
                entry["forecast"] = {
                    strands.horizon_name(h * settings.step): [m, lo, hi]
                    for h, m, lo, hi in zip(settings.horizons, mean, lower, upper, strict=True)
                }
            out["streams"][name] = entry
        for device, battery in sorted(self.batteries.items()):
            out["batteries"][device] = {"days_left": battery.days_left, "low": battery.low}
        return out

    # -- the service -----------------------------------------------------------------------------------

    async def run(self, hub: Hub) -> None:
        """Load the saved state and the history after it, go live, then save what learned, as it learns."""
        await self.load(hub)
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            if self._relearning:
                await self.relearn(hub)
            states = self.states(only_unsaved=True)
            if states:
                try:
                    await hub.readings(_save, self.settings.fingerprint, states)
                except sqlite3.OperationalError as exc:
                    # A full or read-only disk: forecasting goes on, and the next save (every few steps,
                    # and at the close) writes the state as it is then.
                    self._save_failed(exc, hub)
                else:
                    self._saved_again()
                    self.stats["saves"] += 1
            self.saved.set()

    def _save_failed(self, exc: sqlite3.OperationalError, hub: Hub) -> None:
        if self._refusals is None:
            self._refusals = Refusals(hub.data_dir, "the readings file is busy")
        problem, new = self._refusals.refused(exc)
        if new:
            log.error("prediction: forecaster state not saved: %s; forecasting goes on", problem)

    def _saved_again(self) -> None:
        if self._refusals is not None and self._refusals.cleared():
            log.warning("prediction: forecaster state saved again")

    async def load(self, hub: Hub) -> None:
        """Read saved state and history (a day per call on the writer, so commits go on between them)."""
        settings = self.settings
        fingerprint = settings.fingerprint
        saved, units = await hub.readings(_states_and_units, fingerprint)
        fresh = self.fresh = self.restore(saved, units)
        wanted = [n for n in units if self._role_of(n) is not None]
        now = time.time()
        end = math.floor(now / settings.step) * settings.step  # the step in progress is the live feed's
        oldest = end - settings.history_s
        starts = {
            name: (
                last + settings.step
                if (last := tracked.model.last_ts) is not None and name not in fresh
                else oldest
            )
            for name, tracked in self.streams.items()
        }
        history = await self._history(hub, wanted, starts, oldest, end)
        await asyncio.to_thread(self.learn_history, history, fresh)
        log.info(
            "prediction: %d streams (%d learned afresh), %d batteries",
            len(self.streams),
            len(fresh),
            len(self.batteries),
        )
        self.start_live()

    async def _history(
        self, hub: Hub, names: list[str], starts: dict[str, float], oldest: float, end: float
    ) -> dict[str, History]:
        """Step means of ``names`` from ``starts`` (else ``oldest``) to ``end``, a day per call on the
        writer so that commits go on between them; in flat arrays (a dict of tuples holds ten times more,
        and a process does not give that memory back once it has grown for it)."""
        step = self.settings.step
        start = min([*starts.values(), oldest])
        history = {name: (array("q"), array("d")) for name in names}
        day = 86400.0
        cursor = start
        while cursor < end:
            chunk = await hub.readings(_step_means, names, cursor, min(end, cursor + day), step)
            for name, (indices, means) in chunk.items():
                floor = starts.get(name, oldest)
                kept_indices, kept_means = history[name]
                for index, mean in zip(indices, means, strict=True):
                    if index * step >= floor:
                        kept_indices.append(index)
                        kept_means.append(mean)
            cursor += day
        return history

    def close(self, hub: Hub) -> None:
        """Save every learned state (the hub's close hook: the writer thread has finished)."""
        states = self.states(only_unsaved=False)
        if states and self.ready.is_set():
            try:
                _save(hub.store, self.settings.fingerprint, states)
            except sqlite3.OperationalError as exc:
                # The stop goes on: the next start learns from the history after the last saved state.
                self._save_failed(exc, hub)


class _State(msgspec.Struct, array_like=True):
    """One stream's saved state: its forecaster's and its day pattern's."""

    forecaster: bytes
    pattern: bytes


def encode_state(model: Forecaster, pattern: DayPattern) -> bytes:
    """What a forecast stream has learned, to keep in ``forecast_state``."""
    return msgspec.msgpack.encode(_State(to_bytes(model), day_pattern.to_bytes(pattern)))


def decode_state(data: bytes, settings: Settings) -> tuple[Forecaster, DayPattern]:
    """A forecast stream's forecaster and day pattern as ``encode_state`` kept them (ValueError: unusable)."""
    try:
        saved = msgspec.msgpack.decode(data, type=_State)
    except msgspec.DecodeError as exc:
        raise ValueError(f"not a saved forecast state: {exc}") from None
    model = from_bytes(
        saved.forecaster, season=settings.season, max_horizon=settings.max_horizon, scored=settings.scored
    )
    return model, day_pattern.from_bytes(saved.pattern, season=settings.season, days=settings.pattern_days)


def _states_and_units(readings: ReadingsStore, fingerprint: str) -> tuple[dict[str, bytes], dict[str, str]]:
    return store.load_states(readings.conn, fingerprint), store.stream_units(readings.conn)


def _step_means(
    readings: ReadingsStore, names: list[str], start: float, end: float, step: float
) -> dict[str, History]:
    return store.step_mean_arrays(readings.conn, names, start=start, end=end, step=step)


def _save(readings: ReadingsStore, fingerprint: str, states: dict[str, bytes]) -> None:
    store.save_states(readings.conn, fingerprint, states)


def setup(hub: Hub) -> Prediction | None:
    """Wire forecasting to the hub's recorder; None when ``[prediction]`` is absent."""
    if hub.config.prediction is None:
        return None
    settings = Settings.of(hub.config)
    sink = hub.recorder.sink("prediction", "prediction", "drop_oldest", maxsize=4096)
    prediction = Prediction(settings, sink, hub.store.stream_id)
    hub.recorder.listeners.append(prediction.on_readings)

    async def service() -> None:
        await prediction.run(hub)

    hub.services["prediction"] = service
    close: Callable[[], None] = lambda: prediction.close(hub)  # noqa: E731
    hub.on_close.append(close)
    log.info("prediction: forecasting %s", ", ".join(settings.patterns) or "no streams (batteries only)")
    return prediction
