"""The rule engine: readings and a clock in, action intents out; no I/O, no asyncio.

Each rule's ``when`` is compiled into a small tree of nodes. Stream tests keep their own state
(a threshold with hysteresis stays on until the value falls past the hysteresis band); ``for``
nodes remember since when their child has been true; time windows read the clock in the hub's
time zone. A rule fires its actions once each time its condition goes from false to true.

The engine is evaluated when a reading of one of a rule's streams arrives (at the reading's
time) and on ``tick(now)``; ``next_wakeup()`` says when a tick could change anything (a ``for``
running out, or the next minute for time windows).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

from agent.config.durations import seconds
from agent.config.schema import ActionConfig, Condition, RuleConfig
from agent.prediction.strands import parse_forecast_strand
from agent.readings import Reading


class Intent(NamedTuple):
    """One action a rule asks for: which rule, what, when, and the rule's latest reading (if any)."""

    rule: str
    action: ActionConfig
    ts: float
    trigger: Reading | None


class _Node:
    __slots__ = ()

    def evaluate(self, now: float) -> bool:
        raise NotImplementedError

    def deadline(self) -> float | None:
        """The earliest time at which this node could turn true without a new reading."""
        return None


class _Leaf(_Node):
    __slots__ = ("stream",)

    def __init__(self, stream: str) -> None:
        self.stream = stream

    def update(self, reading: Reading) -> None:
        raise NotImplementedError


class _Above(_Leaf):
    """On when the value rises above ``threshold``; off only once it is at or below threshold - band."""

    __slots__ = ("off_at", "on", "threshold")

    def __init__(self, stream: str, threshold: float, band: float) -> None:
        super().__init__(stream)
        self.threshold = threshold
        self.off_at = threshold - band
        self.on = False

    def update(self, reading: Reading) -> None:
        value = reading[2]
        if self.on:
            if value <= self.off_at:
                self.on = False
        elif value > self.threshold:
            self.on = True

    def evaluate(self, now: float) -> bool:
        return self.on


class _Below(_Leaf):
    """On when the value falls below ``threshold``; off only once it is at or above threshold + band."""

    __slots__ = ("off_at", "on", "threshold")

    def __init__(self, stream: str, threshold: float, band: float) -> None:
        super().__init__(stream)
        self.threshold = threshold
        self.off_at = threshold + band
        self.on = False

    def update(self, reading: Reading) -> None:
        value = reading[2]
        if self.on:
            if value >= self.off_at:
                self.on = False
        elif value < self.threshold:
            self.on = True

    def evaluate(self, now: float) -> bool:
        return self.on


class _ForecastWithin(_Leaf):
    """On while any forecast of a stream up to ``within`` ahead is below (or above) ``threshold``.

    Listens to every ``forecast.<stream>.<horizon>`` strand (its ``stream`` is ``forecast.<stream>``) and
    keeps the latest point forecast of each horizon; horizons past ``within`` are not looked at.
    """

    __slots__ = ("below", "latest", "threshold", "within")

    def __init__(self, stream: str, threshold: float, *, below: bool, within: float) -> None:
        super().__init__(stream)
        self.threshold = threshold
        self.below = below
        self.within = within
        self.latest: dict[float, float] = {}

    def update(self, reading: Reading) -> None:
        parsed = parse_forecast_strand(reading[0])
        if parsed is not None and parsed[1] <= self.within:
            self.latest[parsed[1]] = reading[2]

    def evaluate(self, now: float) -> bool:
        if self.below:
            return any(value < self.threshold for value in self.latest.values())
        return any(value > self.threshold for value in self.latest.values())


def watch_key(stream: str) -> str:
    """The name rules index ``stream`` under: a forecast strand's horizon is dropped."""
    parsed = parse_forecast_strand(stream) if stream.startswith("forecast.") else None
    return stream if parsed is None else f"forecast.{parsed[0]}"


def _matches(reading: Reading, target: str | float, min_confidence: float) -> bool:
    if isinstance(target, str):
        return reading[3] == target and reading[2] >= min_confidence
    return reading[2] == target


class _Equals(_Leaf):
    __slots__ = ("min_confidence", "on", "target")

    def __init__(self, stream: str, target: str | float, min_confidence: float) -> None:
        super().__init__(stream)
        self.target = target
        self.min_confidence = min_confidence
        self.on = False

    def update(self, reading: Reading) -> None:
        self.on = _matches(reading, self.target, self.min_confidence)

    def evaluate(self, now: float) -> bool:
        return self.on


class _ChangesTo(_Leaf):
    """True only at the reading where the stream becomes ``target`` having been something else."""

    __slots__ = ("last", "min_confidence", "pulse", "target")

    def __init__(self, stream: str, target: str | float, min_confidence: float) -> None:
        super().__init__(stream)
        self.target = target
        self.min_confidence = min_confidence
        self.last: bool | None = None
        self.pulse = False

    def update(self, reading: Reading) -> None:
        now = _matches(reading, self.target, self.min_confidence)
        self.pulse = now and self.last is False
        self.last = now

    def evaluate(self, now: float) -> bool:
        pulse, self.pulse = self.pulse, False
        return pulse


class _During(_Node):
    """True while the hub's local wall-clock time is in [start, end) (minutes after midnight)."""

    __slots__ = ("end", "start", "tz")

    def __init__(self, start: int, end: int, tz: ZoneInfo) -> None:
        self.start = start
        self.end = end
        self.tz = tz

    def evaluate(self, now: float) -> bool:
        local = datetime.fromtimestamp(now, self.tz)
        minute = local.hour * 60 + local.minute
        if self.start <= self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end


class _All(_Node):
    __slots__ = ("children",)

    def __init__(self, children: list[_Node]) -> None:
        self.children = children

    def evaluate(self, now: float) -> bool:
        # Every child is evaluated (no short cut) so that ``for`` and ``changes_to`` keep their state.
        results = [child.evaluate(now) for child in self.children]
        return all(results)

    def deadline(self) -> float | None:
        return _earliest(child.deadline() for child in self.children)


class _Any(_All):
    __slots__ = ()

    def evaluate(self, now: float) -> bool:
        results = [child.evaluate(now) for child in self.children]
        return any(results)


class _Not(_Node):
    __slots__ = ("child",)

    def __init__(self, child: _Node) -> None:
        self.child = child

    def evaluate(self, now: float) -> bool:
        return not self.child.evaluate(now)

    def deadline(self) -> float | None:
        return self.child.deadline()


class _For(_Node):
    """True once ``child`` has been true for ``duration`` seconds without a break."""

    __slots__ = ("child", "duration", "held", "since")

    def __init__(self, child: _Node, duration: float) -> None:
        self.child = child
        self.duration = duration
        self.since: float | None = None
        self.held = False

    def evaluate(self, now: float) -> bool:
        if not self.child.evaluate(now):
            self.since = None
            self.held = False
            return False
        if self.since is None:
            self.since = now
        self.held = now - self.since >= self.duration
        return self.held

    def deadline(self) -> float | None:
        if self.since is None:
            return self.child.deadline()
        if self.held:
            return None
        return self.since + self.duration


def _earliest(times: Iterable[float | None]) -> float | None:
    found = [t for t in times if t is not None]
    return min(found) if found else None


def parse_window(text: str) -> tuple[int, int]:
    """Parse ``HH:MM-HH:MM`` into minutes after midnight; raise ValueError if it is not one."""
    start_text, sep, end_text = text.partition("-")
    if not sep:
        raise ValueError(f"expected HH:MM-HH:MM, got {text!r}")
    start, end = _minutes(start_text), _minutes(end_text)
    if start == end:
        raise ValueError(f"window {text!r} is empty")
    return start, end


def _minutes(text: str) -> int:
    hours, sep, minutes = text.strip().partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit() or len(minutes) != 2:
        raise ValueError(f"expected HH:MM, got {text.strip()!r}")
    h, m = int(hours), int(minutes)
    if h > 24 or m > 59 or (h == 24 and m):
        raise ValueError(f"no such time of day: {text.strip()!r}")
    return h * 60 + m


def _leaf(cond: Condition) -> _Leaf | None:
    """The stream or forecast test of ``cond``, or None when it has neither."""
    if cond.forecast is not None:
        threshold = cond.below if cond.below is not None else cond.above
        if threshold is None or cond.within is None:
            raise ValueError("a forecast test needs below or above, and within")
        return _ForecastWithin(
            f"forecast.{cond.forecast}", threshold, below=cond.below is not None, within=seconds(cond.within)
        )
    if cond.stream is None:
        return None
    if cond.above is not None:
        return _Above(cond.stream, cond.above, cond.hysteresis)
    if cond.below is not None:
        return _Below(cond.stream, cond.below, cond.hysteresis)
    if cond.equals is not None:
        return _Equals(cond.stream, cond.equals, cond.min_confidence)
    if cond.changes_to is not None:
        return _ChangesTo(cond.stream, cond.changes_to, cond.min_confidence)
    raise ValueError("a stream test needs above, below, equals or changes_to")


def compile_condition(cond: Condition, tz: ZoneInfo, leaves: list[_Leaf]) -> _Node:
    """Turn a validated ``Condition`` into a node tree; stream leaves are appended to ``leaves``."""
    node: _Node
    leaf = _leaf(cond)
    if leaf is not None:
        leaves.append(leaf)
        node = leaf
    elif cond.during is not None:
        node = _During(*parse_window(cond.during), tz)
    elif cond.all is not None:
        node = _All([compile_condition(c, tz, leaves) for c in cond.all])
    elif cond.any is not None:
        node = _Any([compile_condition(c, tz, leaves) for c in cond.any])
    elif cond.not_ is not None:
        node = _Not(compile_condition(cond.not_, tz, leaves))
    else:
        raise ValueError("a condition needs stream, during, all, any or not")
    if cond.for_ is not None:
        node = _For(node, seconds(cond.for_))
    return node


def _uses_clock(cond: Condition) -> bool:
    children = [*(cond.all or ()), *(cond.any or ()), *([cond.not_] if cond.not_ else [])]
    return cond.during is not None or cond.for_ is not None or any(_uses_clock(c) for c in children)


class _Rule:
    __slots__ = ("actions", "active", "clocked", "has_window", "last", "name", "root")

    def __init__(self, config: RuleConfig, tz: ZoneInfo, leaves: list[_Leaf]) -> None:
        self.name = config.name
        self.actions = tuple(config.actions)
        self.root = compile_condition(config.when, tz, leaves)
        self.clocked = _uses_clock(config.when)
        self.has_window = _has_window(config.when)
        self.active = False
        self.last: Reading | None = None


def _has_window(cond: Condition) -> bool:
    children = [*(cond.all or ()), *(cond.any or ()), *([cond.not_] if cond.not_ else [])]
    return cond.during is not None or any(_has_window(c) for c in children)


class RuleEngine:
    """Evaluates ``rules`` on readings and ticks; returns the intents of every rule that fires."""

    def __init__(self, rules: Sequence[RuleConfig], tz: ZoneInfo | str = "UTC") -> None:
        zone = ZoneInfo(tz) if isinstance(tz, str) else tz
        self._rules: list[_Rule] = []
        self._by_stream: dict[str, list[tuple[_Leaf, _Rule]]] = {}
        for config in rules:
            if not config.enabled:
                continue
            leaves: list[_Leaf] = []
            rule = _Rule(config, zone, leaves)
            self._rules.append(rule)
            for leaf in leaves:
                self._by_stream.setdefault(leaf.stream, []).append((leaf, rule))
        self._clocked = [r for r in self._rules if r.clocked]
        self._windows = any(r.has_window for r in self._rules)
        self.now = -math.inf

    @property
    def streams(self) -> frozenset[str]:
        """Every stream some rule listens to."""
        return frozenset(self._by_stream)

    def watches(self, stream: str) -> bool:
        """True when some rule reads ``stream`` (a forecast strand through its stream's forecast test)."""
        return watch_key(stream) in self._by_stream

    def feed(self, reading: Reading) -> list[Intent]:
        """Take one reading at its own timestamp; return the intents of rules that fire."""
        watchers = self._by_stream.get(reading[0])
        if watchers is None and reading[0].startswith("forecast."):
            watchers = self._by_stream.get(watch_key(reading[0]))
        if watchers is None:
            return []
        now = max(self.now, reading[1])
        self.now = now
        touched: list[_Rule] = []
        for leaf, rule in watchers:
            leaf.update(reading)
            if rule not in touched:
                touched.append(rule)
        out: list[Intent] = []
        for rule in touched:
            rule.last = reading
            self._evaluate(rule, now, out)
        return out

    def feed_many(self, readings: Iterable[Reading]) -> list[Intent]:
        """``feed`` each reading in order; readings of streams no rule watches cost one dict lookup."""
        out: list[Intent] = []
        index = self._by_stream
        for reading in readings:
            if reading[0] in index or (reading[0].startswith("forecast.") and watch_key(reading[0]) in index):
                out.extend(self.feed(reading))
        return out

    def tick(self, now: float) -> list[Intent]:
        """Let time pass to ``now`` (wall-clock seconds): ``for`` conditions and time windows."""
        now = max(self.now, now)
        self.now = now
        out: list[Intent] = []
        for rule in self._clocked:
            self._evaluate(rule, now, out)
        return out

    def next_wakeup(self) -> float | None:
        """When the next ``tick`` could make a rule fire (None: only a reading can)."""
        deadline = _earliest(r.root.deadline() for r in self._clocked)
        if self._windows and self.now > -math.inf:
            minute = (math.floor(self.now / 60) + 1) * 60.0
            deadline = minute if deadline is None else min(deadline, minute)
        return deadline

    def _evaluate(self, rule: _Rule, now: float, out: list[Intent]) -> None:
        result = rule.root.evaluate(now)
        if result and not rule.active:
            out.extend(Intent(rule.name, action, now, rule.last) for action in rule.actions)
        rule.active = result
