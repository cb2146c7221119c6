"""Pure pieces of the summariser: which windows are closed, and what each message body says."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from agent.consent.dp import NoisySummary, describe


def first_window(created_at: float, window_s: float) -> float:
    """Start of the first whole window at or after ``created_at`` (no data from before the grant)."""
    return math.ceil(created_at / window_s) * window_s


def closed_until(mark: float, horizon: float, window_s: float, max_windows: int) -> float:
    """End of the last closed window after ``mark`` (windows of ``window_s`` ending by ``horizon``)."""
    whole = max(0, math.floor((horizon - mark) / window_s))
    return mark + min(whole, max_windows) * window_s


def summary_bodies(
    groups: Iterable[tuple[int, int, float, float, float]], window_s: float, unit: str
) -> list[dict[str, Any]]:
    """Message bodies for per-window aggregates (window index, count, mean, min, max)."""
    return [
        {
            "start": k * window_s,
            "end": (k + 1) * window_s,
            "count": count,
            "mean": float(mean),
            "min": float(lo),
            "max": float(hi),
            "unit": unit,
        }
        for k, count, mean, lo, hi in groups
    ]


def noisy_summary_bodies(
    values: Mapping[int, list[float]],
    noisy: NoisySummary,
    *,
    start: float,
    until: float,
    window_s: float,
    unit: str,
) -> list[dict[str, Any]]:
    """A noisy count and mean of every window in [start, until), empty ones too (``values`` by window index).

    Whether a window had readings is itself what the noise hides; there is no min or max (single readings).
    """
    named = describe(noisy.policy)
    bodies = []
    for k in range(round((until - start) / window_s)):
        begin = start + k * window_s
        made = noisy.release(values.get(round(begin / window_s), []))
        bodies.append(
            {
                "start": begin,
                "end": start + (k + 1) * window_s,
                "count": max(0, round(made.n)),
                "mean": made.mean,
                "unit": unit,
                "dp": named,
            }
        )
    return bodies


def label_changes(
    rows: Iterable[tuple[float, float, str | None]], last_label: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Context-change events in ``rows`` (ts, confidence, label) after ``last_label``; and the new last."""
    events = []
    for ts, value, label in rows:
        if label is not None and label != last_label:
            events.append({"ts": ts, "label": label, "value": float(value), "previous": last_label})
            last_label = label
    return events, last_label
