"""A forecast stream's page plot: its history, its latest forecasts with their band, its anomalies (SVG).

Drawn on the server as plain SVG shapes (no script, no CDN): the history of the last day as a line of
step means, the latest forecast of each horizon continuing it, the prediction interval as a shaded band
around the forecast, and a mark where each anomaly began.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass

from agent.config.durations import seconds
from agent.config.schema import Config
from agent.consent.strands import covered
from agent.prediction import strands
from agent.store import forecasts as store

WIDTH = 600.0
HEIGHT = 160.0
HISTORY_S = 86400.0


@dataclass(frozen=True, slots=True)
class Mark:
    """An anomaly's mark: where it is drawn and what its tooltip says."""

    x: float
    title: str


@dataclass(frozen=True, slots=True)
class ForecastPlot:
    """What the stream page draws: SVG points in a ``WIDTH`` x ``HEIGHT`` box, and the axis figures."""

    history: str
    forecast: str
    band: str
    now_x: float
    marks: tuple[Mark, ...]
    low: float
    high: float
    level: int  # the band's coverage in %


def draw(
    history: list[tuple[float, float]],
    forecast: list[tuple[float, float, float, float]],
    anomalies: list[tuple[float, str]],
    *,
    level: float,
) -> ForecastPlot | None:
    """Lay out ``history`` (ts, mean), ``forecast`` (ts, mean, low, high) and anomaly starts on one axis."""
    if not history and not forecast:
        return None
    times = [t for t, _ in history] + [f[0] for f in forecast]
    values = [v for _, v in history] + [x for f in forecast for x in f[1:]]
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return None
    t0, t1 = min(times), max(times)
    span_t = (t1 - t0) or 1.0
    low, high = min(finite), max(finite)
    pad = (high - low) * 0.05 or 1.0
    low, high = low - pad, high + pad

    def x(t: float) -> float:
        return (t - t0) / span_t * WIDTH

    def y(v: float) -> float:
        return HEIGHT - (v - low) / (high - low) * HEIGHT

    def points(pairs: list[tuple[float, float]]) -> str:
        return " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in pairs if math.isfinite(v))

    now = history[-1][0] if history else t0
    joined = ([history[-1]] if history else []) + [(t, m) for t, m, _, _ in forecast]
    band = [(t, hi) for t, _, _, hi in forecast] + [(t, lo) for t, _, lo, _ in reversed(forecast)]
    if history and forecast:  # the band opens from the last value seen
        band = [history[-1], *band, history[-1]]
    return ForecastPlot(
        history=points(history),
        forecast=points(joined) if forecast else "",
        band=points(band) if forecast else "",
        now_x=round(x(now), 1),
        marks=tuple(Mark(round(x(t), 1), title) for t, title in anomalies if t0 <= t <= t1),
        low=low + pad,
        high=high - pad,
        level=round(level * 100),
    )


def forecast_plot(conn: sqlite3.Connection, *, config: Config, name: str, now: float) -> ForecastPlot | None:
    """The plot of stream ``name`` if ``[prediction]`` forecasts it (read on the dashboard's reader)."""
    prediction = config.prediction
    if prediction is None or not covered(prediction.streams, name):
        return None
    step = seconds(prediction.step)
    horizons = sorted({round(seconds(h) / step) for h in prediction.horizons})
    since = now - HISTORY_S
    cells = store.step_means(conn, [name], start=since, end=now + step, step=step).get(name, {})
    history = [((i + 1) * step, total / count) for i, (total, count) in sorted(cells.items())]
    names = {strands.forecast_strand(name, h * step): h for h in horizons}
    latest = store.latest_of(conn, names)
    forecast = []
    for strand, h in names.items():
        found = latest.get(strand)
        interval = strands.parse_interval(found[2]) if found else None
        if found is not None and interval is not None:
            forecast.append((found[0] + h * step, found[1], interval.low, interval.high))
    forecast.sort()
    events = store.readings_of(conn, strands.anomaly_strand(name), since=since)
    anomalies = [(ts, f"anomaly, score {value:.3g}: {label}") for ts, value, label in events if value > 0]
    return draw(history, forecast, anomalies, level=prediction.level)
