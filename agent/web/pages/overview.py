"""The overview: hub identity and uptime, each source's health and counters, the recorder, the outbox and
the upstream broker link, file sizes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from aiohttp import web

from agent.web.app import CTX, WebContext
from agent.web.pages.audit import upstream_state


def setup(app: web.Application, ctx: WebContext) -> None:
    """Add ``/`` and its navigation entry."""
    app.router.add_get("/", overview)
    ctx.nav.append(("/", "Overview"))


def hub_stats(ctx: WebContext) -> dict[str, Any]:
    """The live figures the overview shows (also sent as the ``stats`` event)."""
    recorder = ctx.hub.recorder
    storing = "yes"
    if recorder.store_error is not None and recorder.store_error_since is not None:
        since = ctx.clock.format(recorder.store_error_since, "%H:%M:%S %Z")
        storing = f"NO, since {since}: {recorder.store_error}; retrying"
    return {
        "uptime": int(time.monotonic() - ctx.started),
        "committed": recorder.committed,
        "queued": recorder.queued,
        "commit_failures": recorder.commit_failures,
        "storing": storing,
        "sources": ctx.hub.source_health(),
    }


def file_sizes(data_dir: Path) -> list[tuple[str, int]]:
    """Each data file with the bytes it and its WAL take on disk."""
    sizes: dict[str, int] = {}
    for path in sorted(data_dir.glob("*.db*")):
        base = path.name.removesuffix("-wal").removesuffix("-shm")
        sizes[base] = sizes.get(base, 0) + path.stat().st_size
    return sorted(sizes.items())


async def overview(request: web.Request) -> web.StreamResponse:
    """The overview page; its figures then update live from the ``stats`` events."""
    ctx = request.app[CTX]
    return ctx.render(
        request,
        "overview.html",
        stats=hub_stats(ctx),
        files=file_sizes(ctx.hub.data_dir),
        upstream=await ctx.read_ledger(upstream_state),
        configured=ctx.hub.config.upstream is not None,
        title="Overview",
    )
