"""The context timeline: what each model said was going on, as label changes over the last hour or day.

Only switches are recorded (see ``agent.inference.pipeline``), so each reading of a ``context.*``
stream is one change; the page draws them as coloured spans and lists them, newest first, and
new switches arrive live as ``reading`` events.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from aiohttp import web

from agent.web import queries
from agent.web.app import CTX, WebContext

WINDOWS = {"hour": 3600.0, "day": 86400.0}
# Looking further back than this for the label in effect when the window opens would make the page's
# query grow with the hub's age; an older label shows as "unknown".
LOOKBACK_S = 3600.0
WIDTH = 1000.0
LISTED = 100
# Distinct on light and dark backgrounds; a label keeps its colour everywhere (hash of its name, the
# same one app.js computes for switches that arrive live).
PALETTE = ("#1f6f8b", "#c4662b", "#4f8a3a", "#8e4fa8", "#b8922a", "#2a8f86", "#a8435a", "#5d6fb8")
UNKNOWN = "#9aa5af"


@dataclass(frozen=True, slots=True)
class Span:
    """A stretch of the timeline drawn in one label's colour (x and width in viewBox units)."""

    x: float
    width: float
    label: str
    confidence: float | None
    colour: str


def setup(app: web.Application, ctx: WebContext) -> None:
    """Add ``/context``."""
    app.router.add_get("/context", timeline)
    ctx.nav.append(("/context", "Context"))


def colour(label: str) -> str:
    """The colour ``label`` is drawn in (stable across pages and restarts)."""
    if not label:
        return UNKNOWN
    h = 0
    for char in label:
        h = (h * 31 + ord(char)) & 0xFFFFFFFF
    return PALETTE[h % len(PALETTE)]


def spans(strand: queries.Strand, *, start: float, now: float) -> list[Span]:
    """``strand``'s timeline from ``start`` to ``now`` as spans across ``WIDTH``."""
    scale = WIDTH / (now - start)
    current = strand.before
    at = start
    out: list[Span] = []
    for change in [*strand.changes, None]:
        until = change.ts if change is not None else now
        if until > at:
            label = current.label if current is not None else ""
            out.append(
                Span(
                    round((at - start) * scale, 1),
                    round((until - at) * scale, 1),
                    label or "unknown",
                    current.confidence if current is not None else None,
                    colour(label),
                )
            )
        if change is not None:
            current, at = change, max(at, change.ts)
    return out


async def timeline(request: web.Request) -> web.StreamResponse:
    """Every context strand's label changes over the chosen window (``?window=hour|day``)."""
    ctx = request.app[CTX]
    window = request.query.get("window", "hour")
    if window not in WINDOWS:
        window = "hour"
    now = time.time()
    window_s = WINDOWS[window]
    names = tuple(f"context.{m.name}" for m in ctx.hub.config.models)
    strands = await ctx.read(
        queries.context_strands, now=now, window_s=window_s, lookback_s=LOOKBACK_S, names=names
    )
    rows = [
        (
            strand,
            spans(strand, start=now - window_s, now=now),
            list(reversed(strand.changes))[:LISTED],
            strand.changes[-1] if strand.changes else strand.before,
        )
        for strand in strands
    ]
    return ctx.render(
        request,
        "context.html",
        title="Context",
        rows=rows,
        window=window,
        windows=list(WINDOWS),
        colour=colour,
        palette=PALETTE,
        start=now - window_s,
        window_s=window_s,
        width=WIDTH,
        clock=_clock,
    )


def _clock(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts))
