"""The context timeline: what each model said was going on, as label changes over the last hour or day.

Only switches are recorded (see ``agent.inference.pipeline``), so each reading of a ``context.*``
stream is one change; the page draws them as coloured spans and lists them, newest first, and
new switches arrive live as ``reading`` events.

Under each model's timeline the owner labels a span of time (selected on the timeline, or typed into the
from/to fields) with one of the model's classes or a new one, and removes labels. Both are the owner
actions ``hearth label add`` / ``remove`` perform (audited; the running model adapts at once).
"""

from __future__ import annotations

import math
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from agent.config.clock import TYPED, HubClock
from agent.errors import AgentError, LearningError
from agent.learning import labels as label_store
from agent.learning import versions
from agent.learning.outcome import said, version_name
from agent.web import queries
from agent.web.app import CTX, WebContext, form_error

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
    """Add ``/context`` with its label and remove-label actions."""
    app.router.add_get("/context", timeline)
    app.router.add_post("/context/labels", add_label)
    app.router.add_post("/context/labels/{label}/remove", remove_label)
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
    notice = None
    model = request.query.get("model", "")
    for key, done in (("labelled", "Saved"), ("unlabelled", "Removed")):
        label_id = request.query.get(key, "")
        if label_id.isdigit() and model in {m.name for m in ctx.hub.config.models}:
            running = await ctx.read_ledger(_running, model=model)
            came = ctx.adaptations.get((model, int(label_id)), f"{model} runs {version_name(running)}")
            notice = f"{done} label {label_id}. {came}."
    return await _render(request, notice=notice)


async def _render(
    request: web.Request,
    *,
    status: int = 200,
    error: str | None = None,
    notice: str | None = None,
    form: dict[str, str] | None = None,
    invalid: str | None = None,
) -> web.Response:
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
    models = [m.name for m in ctx.hub.config.models]
    owned = await ctx.read_ledger(label_store.listed)
    clock = ctx.clock
    return ctx.render(
        request,
        "context.html",
        status=status,
        title="Context",
        error=error,
        notice=notice,
        form=form or {},
        invalid=invalid or "",
        models=models,
        labels={m: [x for x in owned if x.model == m] for m in models},
        classes={m: classes_of(ctx, m, owned) for m in models},
        moment=lambda ts: clock.format(ts, TYPED),
        rows=rows,
        window=window,
        windows=list(WINDOWS),
        colour=colour,
        palette=PALETTE,
        start=now - window_s,
        window_s=window_s,
        width=WIDTH,
    )


def classes_of(ctx: WebContext, model: str, owned: list[label_store.Label]) -> list[str]:
    """The classes the owner may pick for ``model``: the ones it ships with, then the owner's own."""
    from agent.inference.pipeline import inference_of

    inference = inference_of(ctx.hub)
    runner = inference.runners.get(model) if inference is not None else None
    shipped = list(runner.model.card.labels) if runner is not None else []
    if runner is not None and runner.adapted is not None:
        shipped += [c for c in runner.adapted[1].classes if c not in shipped]
    return shipped + sorted({x.cls for x in owned if x.model == model} - set(shipped))


def span_of(form: Any, clock: HubClock) -> tuple[float, float]:
    """The span the form names: the timeline's selection (unix seconds) where it made one, else the
    from/to fields (the hub's time); ``LearningError`` naming the field that is not a time."""
    found = []
    for name in ("from", "to"):
        picked = str(form.get(f"{name}_ts", "")).strip()
        typed = str(form.get(name, "")).strip()
        try:
            value = float(picked) if picked else clock.parse(typed)
        except ValueError:
            raise LearningError(
                f"{name} {typed!r} is not a time",
                hint="select the span on the timeline, or type 2026-12-02T14:30:00",
            ) from None
        if not math.isfinite(value):
            raise LearningError(f"{name} is not a time")
        found.append(round(value, 3))
    return found[0], found[1]


async def add_label(request: web.Request) -> web.StreamResponse:
    """Label the posted span of a model as the posted class, as ``hearth label add`` does."""
    ctx = request.app[CTX]
    form = await request.post()
    values = {k: str(form.get(k, "")).strip() for k in ("model", "from", "to", "class")}
    window = str(form.get("window", "hour"))
    try:
        start, end = span_of(form, ctx.clock)
        done = await ctx.hub.perform(
            "label.add", {"model": values["model"], "start_ts": start, "end_ts": end, "cls": values["class"]}
        )
    except AgentError as exc:
        return await _render(request, status=400, error=_message(exc), form=values, invalid=exc.field)
    _remember(ctx, done)
    query = {"window": window, "labelled": str(done["label"]["id"]), "model": values["model"]}
    raise web.HTTPSeeOther(str(request.url.with_path("/context").with_query(query).relative()))


async def remove_label(request: web.Request) -> web.StreamResponse:
    """Remove a label, as ``hearth label remove`` does."""
    ctx = request.app[CTX]
    form = await request.post()
    window = str(form.get("window", "hour"))
    try:
        label_id = int(request.match_info["label"])
        done = await ctx.hub.perform("label.remove", {"label_id": label_id})
    except ValueError:
        raise web.HTTPNotFound(text="no such label") from None
    except AgentError as exc:
        return await _render(request, status=404, error=_message(exc))
    _remember(ctx, done)
    query = {"window": window, "unlabelled": str(label_id), "model": done["label"]["model"]}
    raise web.HTTPSeeOther(str(request.url.with_path("/context").with_query(query).relative()))


# How many label actions' outcomes the dashboard remembers for the pages they redirect to.
REMEMBERED = 32


def _remember(ctx: WebContext, done: dict[str, Any]) -> None:
    """Keep what a label action's adaptation came to, for the page it redirects to (the newest few)."""
    ctx.adaptations[(done["label"]["model"], done["label"]["id"])] = said(done["adaptation"])
    while len(ctx.adaptations) > REMEMBERED:
        del ctx.adaptations[next(iter(ctx.adaptations))]


def _running(conn: sqlite3.Connection, *, model: str) -> int:
    """The version ``model`` runs (0: as shipped)."""
    return versions.running(conn, model)[0]


# The owner's inputs (as the label actions name them in their errors) by the labels of the form.
LABELS = {"from": "From", "to": "To", "cls": "Class"}


def _message(exc: AgentError) -> str:
    return form_error(exc, LABELS)
