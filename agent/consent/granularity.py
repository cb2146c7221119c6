"""Granularity of a grant: ``summary:<window>`` (count/mean/min/max per window), ``events``, ``raw``."""

from __future__ import annotations

import re
from typing import Literal

import msgspec

from agent.config.durations import PATTERN
from agent.config.durations import seconds as duration_seconds
from agent.errors import ConsentError

Kind = Literal["summary", "events", "raw"]

# Windows shorter than this would be raw data by another name.
MIN_WINDOW_S = 1.0


class Granularity(msgspec.Struct, frozen=True):
    """A parsed granularity; ``window_s`` is set for summaries only."""

    kind: Kind
    window_s: float | None = None

    def __str__(self) -> str:
        if self.kind == "summary" and self.window_s is not None:
            return f"summary:{_format_window(self.window_s)}"
        return self.kind


def parse_granularity(text: str) -> Granularity:
    """Parse ``summary:10s`` / ``summary:1h`` / ``events`` / ``raw``; raise ``ConsentError`` otherwise."""
    text = text.strip()
    if text in ("events", "raw"):
        return Granularity(text)  # type: ignore[arg-type]
    kind, _, window = text.partition(":")
    if kind != "summary" or not window:
        raise ConsentError(
            f"unknown granularity {text!r}",
            hint="use summary:<window> (for example summary:1h), events, or raw",
        )
    if not re.match(PATTERN, window):
        raise ConsentError(f"invalid summary window {window!r}", hint="use a duration such as 10s, 5m or 1h")
    window_s = duration_seconds(window)
    if window_s < MIN_WINDOW_S:
        raise ConsentError(f"summary window {window!r} is shorter than {MIN_WINDOW_S:g} s")
    return Granularity("summary", window_s)


def _format_window(window_s: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if window_s >= size and window_s % size == 0:
            return f"{int(window_s // size)}{unit}"
    if window_s == int(window_s):
        return f"{int(window_s)}s"
    return f"{window_s:g}s"


def rounding(precision: int) -> str:
    """How ``rounded`` rounds at ``precision``, in plain words: ``2 decimal places``, ``whole numbers``,
    ``the nearest 1,000``."""
    if precision > 0:
        return f"{precision} decimal place{'s' if precision > 1 else ''}"
    if precision == 0:
        return "whole numbers"
    return f"the nearest {10**-precision:,}"


def rounded(value: float, precision: int | None) -> float:
    """``value`` rounded to ``precision`` decimal places (negative: tens, hundreds); as is when None."""
    if precision is None:
        return value
    return float(round(value, precision))
