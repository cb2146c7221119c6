"""Replay recorded readings through the rules, as the daemon would see them, and say what fires.

The CSV has columns ``ts, stream, value[, label]`` (a header row is optional). ``ts`` is unix
seconds or an ISO 8601 time; a time without an offset is read in the hub's time zone. Between two
readings the engine is ticked wherever time alone could make a rule fire, so ``for`` conditions
and time windows fire when they would have live.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from agent.config.schema import ActionConfig, Condition, LogAction, PublishAction
from agent.errors import ConfigError
from agent.readings import Reading
from agent.rules.engine import Intent, RuleEngine


def read_csv(path: Path, tz: ZoneInfo) -> list[Reading]:
    """Read a replay CSV; raise ``ConfigError`` naming the file and row if a row is wrong."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", source=str(path)) from exc
    readings: list[Reading] = []
    for number, row in enumerate(rows, start=1):
        cells = [c.strip() for c in row]
        if not cells or not any(cells) or cells[0].startswith("#"):
            continue
        if number == 1 and cells[0].lower() == "ts":
            continue
        if len(cells) not in (3, 4):
            raise ConfigError(f"row {number}: expected ts, stream, value[, label]", source=str(path))
        try:
            ts = _timestamp(cells[0], tz)
            value = float(cells[2])
        except ValueError as exc:
            raise ConfigError(f"row {number}: {exc}", source=str(path)) from None
        label = cells[3] if len(cells) == 4 and cells[3] else None
        readings.append(Reading(cells[1], ts, value, label))
    readings.sort(key=lambda r: r[1])
    return readings


def _timestamp(text: str, tz: ZoneInfo) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is neither unix seconds nor an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.timestamp()


def replay(engine: RuleEngine, readings: Iterable[Reading]) -> Iterator[Intent]:
    """Feed ``readings`` in order, ticking between them whenever a rule could fire on time alone."""
    for reading in readings:
        yield from _tick_until(engine, reading[1])
        yield from engine.feed(reading)


def _tick_until(engine: RuleEngine, until: float) -> Iterator[Intent]:
    while (wake := engine.next_wakeup()) is not None and wake < until:
        yield from engine.tick(wake)


def describe_condition(cond: Condition) -> str:
    """A one-line reading of a condition: ``plug.power > 1500 (off <= 1400) for 10s``."""
    if cond.forecast is not None:
        text = _describe_test(cond, f"forecast of {cond.forecast}") + f" within {cond.within}"
    elif cond.stream is not None:
        text = _describe_test(cond, cond.stream)
    elif cond.during is not None:
        text = f"time in {cond.during}"
    elif cond.all is not None:
        text = "(" + " and ".join(describe_condition(c) for c in cond.all) + ")"
    elif cond.any is not None:
        text = "(" + " or ".join(describe_condition(c) for c in cond.any) + ")"
    elif cond.not_ is not None:
        text = f"not {describe_condition(cond.not_)}"
    else:
        text = "?"
    if cond.for_ is not None:
        text += f" for {cond.for_}"
    return text


def describe_action(action: ActionConfig) -> str:
    """A one-line reading of an action."""
    if isinstance(action, LogAction):
        return f"log {action.message!r}"
    if isinstance(action, PublishAction):
        return f"publish {action.payload!r} to {action.topic}"
    arg = "" if action.arg is None else f" {action.arg!r}"
    return f"board {action.board}: {action.command}{arg}"


def _describe_test(cond: Condition, stream: str) -> str:
    if cond.above is not None:
        text = f"{stream} > {cond.above:g}"
        if cond.hysteresis:
            text += f" (off <= {cond.above - cond.hysteresis:g})"
    elif cond.below is not None:
        text = f"{stream} < {cond.below:g}"
        if cond.hysteresis:
            text += f" (off >= {cond.below + cond.hysteresis:g})"
    elif cond.equals is not None:
        text = f"{stream} = {cond.equals!r}"
    else:
        text = f"{stream} becomes {cond.changes_to!r}"
    if cond.min_confidence:
        text += f" (confidence >= {cond.min_confidence:g})"
    return text
