"""How forecasts, anomalies and battery estimates travel as strands (pure; no NumPy).

A ``Reading`` is (stream, ts, value, label); the prediction feature's strands use it like this:

``forecast.<stream>.<horizon>`` (``forecast.bedroom.temperature.2h``)
    one strand per configured horizon. ``ts`` is when the forecast was made (the end of the step it
    learned last), ``value`` the point forecast: the mean expected over the step that ends ``horizon``
    after ``ts``; ``label`` the prediction interval, ``"80% 17.1..18.9"``.
``anomaly.<stream>`` (``anomaly.freezer.power``)
    an event when the stream leaves, or comes back into, its expected range: ``value`` is the score (how
    far out it went, in half-widths of the range; 0 = back to normal), ``label`` the expected range
    and the value seen. Two kinds share the strand: a run of steps outside the forecast interval
    (``"expected 3.1..5.2, saw 9.4"``), and a part of the day whose mean is out of the range the same
    part had on the days before (``"expected 61..70, saw 83; evening against 28 days"``). The strand is
    0 again only when neither kind is out.
``battery.<device>.days_left`` (``battery.porch.days_left``)
    the days until the device's battery is empty; ``label`` the 80 % interval, ``"80% 9.5..14.2"``.
``battery.<device>.low``
    an event: 1 when ``days_left`` falls under the configured warning, 0 when it is back over it.

Strands are ``<device>.<quantity>``; here the device is ``forecast``, ``anomaly`` or ``battery``, so a
grant on ``bedroom.*`` does not cover them: they are granted on their own
(``forecast.bedroom.temperature.*``).
"""

from __future__ import annotations

import re
from typing import NamedTuple

FORECAST = "forecast"
ANOMALY = "anomaly"
BATTERY = "battery"
LABELS = "labels"  # the owner's labels of a model (agent.learning.strand)
DEVICES = (FORECAST, ANOMALY, BATTERY)

_INTERVAL = re.compile(r"^(\d+)% (-?[\d.e+-]+)\.\.(-?[\d.e+-]+)$")
_EXPECTED = re.compile(r"^expected (-?[\d.e+-]+)\.\.(-?[\d.e+-]+)")
_PART = re.compile(r"; ([\w-]+) against (\d+) days$")
STEPS = "steps"  # the kind of an anomaly of steps outside the forecast interval
_HORIZON = re.compile(r"^(\d+)([smhd])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class Interval(NamedTuple):
    """A central prediction interval: its nominal coverage and its bounds."""

    level: float
    low: float
    high: float


def horizon_name(seconds: float) -> str:
    """The strand suffix of a horizon: whole days, hours, minutes or seconds (``2h``, ``90m``)."""
    whole = round(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"


def horizon_seconds(name: str) -> float | None:
    """The horizon a strand suffix names (``2h`` → 7200), or None if it names none."""
    match = _HORIZON.match(name)
    return None if match is None else float(int(match.group(1)) * _UNIT[match.group(2)])


def forecast_strand(stream: str, horizon_s: float) -> str:
    """``forecast.<stream>.<horizon>``."""
    return f"{FORECAST}.{stream}.{horizon_name(horizon_s)}"


def parse_forecast_strand(strand: str) -> tuple[str, float] | None:
    """(forecast stream, horizon seconds) of a forecast strand, or None if ``strand`` is not one."""
    if not strand.startswith(f"{FORECAST}."):
        return None
    stream, _, suffix = strand[len(FORECAST) + 1 :].rpartition(".")
    horizon = horizon_seconds(suffix)
    if not stream or horizon is None:
        return None
    return stream, horizon


def anomaly_strand(stream: str) -> str:
    """``anomaly.<stream>``."""
    return f"{ANOMALY}.{stream}"


def battery_strands(device: str) -> tuple[str, str]:
    """The days-left and low-battery strands of ``device``."""
    return f"{BATTERY}.{device}.days_left", f"{BATTERY}.{device}.low"


def source_of(strand: str) -> str | None:
    """The stream a derived strand is made from (``battery.porch.low`` → ``porch.battery``), or None.

    Forgetting that stream forgets the strand too: it tells about the stream (a forecast of it, when it
    went out of its range, when its battery runs out).
    """
    device, _, rest = strand.partition(".")
    if device == FORECAST:
        parsed = parse_forecast_strand(strand)
        return None if parsed is None else parsed[0]
    if device == ANOMALY:
        return rest if "." in rest else None
    if device == BATTERY:
        owner, _, quantity = rest.rpartition(".")
        return f"{owner}.battery" if owner and quantity in ("days_left", "low") else None
    if device == LABELS:
        # The owner's labels of a model tell about its context strand (what was really going on).
        return f"context.{rest}" if rest and "." not in rest else None
    return None


def _num(value: float) -> str:
    return f"{value:.6g}"


def interval_label(level: float, low: float, high: float) -> str:
    """``"80% 17.1..18.9"``."""
    return f"{round(level * 100)}% {_num(low)}..{_num(high)}"


def parse_interval(label: str | None) -> Interval | None:
    """The interval a forecast's or battery estimate's label carries, or None."""
    match = _INTERVAL.match(label or "")
    if match is None:
        return None
    try:
        return Interval(int(match.group(1)) / 100, float(match.group(2)), float(match.group(3)))
    except ValueError:
        return None


def expected_label(low: float, high: float, value: float) -> str:
    """``"expected 3.1..5.2, saw 9.4"``."""
    return f"expected {_num(low)}..{_num(high)}, saw {_num(value)}"


def pattern_label(low: float, high: float, mean: float, part: str, days: int) -> str:
    """``"expected 61..70, saw 83; evening against 28 days"``: a part of the day out of its usual range."""
    return f"{expected_label(low, high, mean)}; {part} against {days} days"


def anomaly_kind(label: str | None) -> str:
    """What an anomaly event is about: the part of the day it judged (``evening``), or ``steps``."""
    match = _PART.search(label or "")
    return STEPS if match is None else match.group(1)


def parse_expected(label: str | None) -> tuple[float, float] | None:
    """The expected range an anomaly event's label carries, or None."""
    match = _EXPECTED.match(label or "")
    if match is None:
        return None
    try:
        return float(match.group(1)), float(match.group(2))
    except ValueError:
        return None


def attributes(strand: str, label: str | None) -> dict[str, float | str] | None:
    """The interval or expected range (and an anomaly's kind) of a prediction strand's reading, as
    attributes (None: none)."""
    if strand.startswith(f"{ANOMALY}."):
        expected = parse_expected(label)
        if expected is None:
            return None
        return {"expected_low": expected[0], "expected_high": expected[1], "kind": anomaly_kind(label)}
    interval = parse_interval(label)
    if interval is None:
        return None
    return {"level": interval.level, "low": interval.low, "high": interval.high}
