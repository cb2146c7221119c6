"""Devices and their streams with live values and sparklines; one page per stream."""

from __future__ import annotations

import time
from itertools import groupby

from aiohttp import web

from agent.learning import strand
from agent.web import queries
from agent.web.app import CTX, WebContext
from agent.web.forecast_plot import forecast_plot


def setup(app: web.Application, ctx: WebContext) -> None:
    """Add ``/streams`` and ``/streams/{name}``."""
    app.router.add_get("/streams", stream_list)
    app.router.add_get("/streams/{name}", stream_page)
    ctx.nav.append(("/streams", "Streams"))


async def stream_list(request: web.Request) -> web.StreamResponse:
    """Every device with its streams, newest values and sparklines of the last minutes."""
    ctx = request.app[CTX]
    rows = on_clock(await ctx.read(queries.streams, now=time.time(), window_s=ctx.sparkline_window), ctx)
    rows.sort(key=lambda r: (r.device, r.name))
    devices = [(device, list(group)) for device, group in groupby(rows, key=lambda r: r.device)]
    return ctx.render(
        request, "streams.html", devices=devices, window_min=ctx.sparkline_window / 60, title="Streams"
    )


async def stream_page(request: web.Request) -> web.StreamResponse:
    """One stream: its live value and a larger plot of the last minutes."""
    ctx = request.app[CTX]
    name = request.match_info["name"]
    window_s = ctx.sparkline_window
    rows = on_clock(
        await ctx.read(queries.streams, now=time.time(), window_s=window_s, buckets=120, only=name), ctx
    )
    if not rows:
        raise web.HTTPNotFound(text=f"no stream named {name!r}")
    row = rows[0]
    series = row.series
    summary = (min(series), sum(series) / len(series), max(series)) if series else None
    plot = await ctx.read(forecast_plot, config=ctx.hub.config, name=name, now=time.time())
    return ctx.render(
        request,
        "stream.html",
        row=row,
        summary=summary,
        plot=plot,
        window_min=ctx.sparkline_window / 60,
        title=row.name,
    )


def on_clock(rows: list[queries.StreamRow], ctx: WebContext) -> list[queries.StreamRow]:
    """``rows`` with each ``labels.<model>`` value's span on the hub's clock, as the page's times are (the
    reading keeps it in UTC, as it leaves)."""
    for row in rows:
        if row.last_label and strand.model_of(row.name) is not None:
            row.last_label = strand.on_clock(row.last_label, ctx.clock)
    return rows
