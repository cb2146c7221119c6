"""What left my home: the audit log, filtered and paged, with the chain's verification; the passport export.

The whole chain is verified on every visit (it is the point of the page): a hash per entry, linear in the
log's length. The export runs the passport module on connections of its own off the event loop, writes
into a private temporary folder in the data directory, streams the archive and removes it.
"""

from __future__ import annotations

import asyncio
import errno
import json
import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from agent.config import HubClock
from agent.consent import outbox
from agent.consent.ledger import audit_count, audit_matching, verify_audit
from agent.consent.passport import export
from agent.errors import AgentError
from agent.store.ledger import open_ledger
from agent.store.readings import open_readings
from agent.store.sqlite import read_only_problem
from agent.web.app import CTX, WebContext

PAGE_SIZE = 50
KINDS = (
    "grant",
    "revoke",
    "expire",
    "publish",
    "drop",
    "erasure",
    "erasure request",
    "config",
    "destination",
    "intent",
    "intent publish",
    "intent offer",
    "intent answer",
    "intent end",
    "intent clear",
    "label",
    "label remove",
)
CHUNK = 256 * 1024


def setup(app: web.Application, ctx: WebContext) -> None:
    """Add ``/audit`` and ``/passport/export``."""
    app.router.add_get("/audit", audit_page)
    app.router.add_post("/passport/export", export_passport)
    ctx.nav.append(("/audit", "What left"))


@dataclass(frozen=True)
class Filters:
    """The audit page's filters, as given in its query string."""

    kind: str = ""
    who: str = ""  # a grant id or a recipient
    strand: str = ""
    since: str = ""  # YYYY-MM-DD or YYYY-MM-DDTHH:MM, in hub.timezone unless it names a zone
    until: str = ""
    page: int = 1


@dataclass(frozen=True)
class Row:
    """One audit entry as the page shows it."""

    seq: int
    ts: float
    kind: str
    detail: dict[str, Any]


def parse_time(text: str, clock: HubClock) -> float | None:
    """Unix seconds of a date or date-time from a filter field (the hub's time unless it names a zone);
    None when empty or unreadable."""
    if not text:
        return None
    try:
        return clock.parse(text)
    except ValueError:
        return None


def upstream_state(conn: sqlite3.Connection) -> dict[str, Any]:
    """Outbox depth and the broker link as the publisher last recorded it."""
    state = outbox.read_state(conn)
    return {
        "depth": outbox.depth(conn),
        "state": state.get("state", "never connected"),
        "since": state.get("since"),
        "error": state.get("error"),
        "last_acked_seq": outbox.last_acked_seq(conn),
    }


def entries(conn: sqlite3.Connection, *, filters: Filters, clock: HubClock) -> tuple[list[Row], int]:
    """One page of audit entries (newest first) matching ``filters``, and how many match in all."""
    found, total = audit_matching(
        conn,
        kind=filters.kind,
        who=filters.who,
        strand=filters.strand,
        since=parse_time(filters.since, clock),
        until=parse_time(filters.until, clock),
        limit=PAGE_SIZE,
        offset=(filters.page - 1) * PAGE_SIZE,
    )
    return [Row(seq, ts, kind, json.loads(detail)) for seq, ts, kind, detail in found], total


def _audit_view(conn: sqlite3.Connection, *, filters: Filters, clock: HubClock) -> dict[str, Any]:
    rows, total = entries(conn, filters=filters, clock=clock)
    return {
        "rows": rows,
        "total": total,
        "problems": verify_audit(conn),
        "upstream": upstream_state(conn),
        "entries": audit_count(conn),
    }


def _filters(query: Any) -> Filters:
    page = str(query.get("page", "1"))
    return Filters(
        kind=str(query.get("kind", "")).strip(),
        who=str(query.get("who", "")).strip(),
        strand=str(query.get("strand", "")).strip(),
        since=str(query.get("since", "")).strip(),
        until=str(query.get("until", "")).strip(),
        page=max(1, int(page)) if page.isdigit() else 1,
    )


def unreadable(filters: Filters, clock: HubClock) -> tuple[str | None, str | None]:
    """The first time filter that is not a time (``since`` or ``until``) and the page's words for it; a
    filter left out silently would show every entry as though they matched."""
    for field, label in (("since", "From"), ("until", "To")):
        text = getattr(filters, field)
        if text and parse_time(text, clock) is None:
            return field, (
                f"“{label}” {text!r} is not a time, so no entries were left out by it"
                f" (type 2026-11-01 or 2026-11-01T18:00, in {clock.name})"
            )
    return None, None


async def audit_page(request: web.Request) -> web.StreamResponse:
    """The audit log with its verification result, the outbox and the broker link, and the export."""
    return await _render(request)


async def _render(request: web.Request, *, status: int = 200, error: str = "") -> web.StreamResponse:
    ctx = request.app[CTX]
    filters = _filters(request.query)
    invalid, filter_error = unreadable(filters, ctx.clock)
    view = await ctx.read_ledger(_audit_view, filters=filters, clock=ctx.clock)
    query = {k: v for k, v in vars(filters).items() if v and k != "page"}
    return ctx.render(
        request,
        "audit.html",
        title="What left my home",
        filters=filters,
        kinds=KINDS,
        query=query,
        pages=max(1, -(-view["total"] // PAGE_SIZE)),
        configured=ctx.hub.config.upstream is not None,
        invalid=invalid,
        error=filter_error,
        status=status if filter_error is None else 400,
        export_error=error,
        **view,
    )


async def _refused(request: web.Request, exc: OSError, data_dir: Path) -> web.StreamResponse:
    """The audit page saying why the archive could not be written (a full or read-only disk), else raise."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        problem = "the disk is full"
    elif exc.errno == errno.EROFS:
        problem = read_only_problem(data_dir)
    else:
        raise exc
    error = f"cannot write the passport archive: {problem}; free space in the data folder and export again"
    return await _render(request, status=507, error=error)


def _export(data_dir: Path, folder: Path, hub_id: str) -> Path:
    path = folder / f"hearth-passport-{hub_id}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.zip"
    ledger = open_ledger(data_dir, read_only=True)
    store = open_readings(data_dir, read_only=True)
    try:
        export(store.conn, ledger, path, hub_id=hub_id, now=time.time())
    finally:
        store.close()
        ledger.close()
    return path


async def export_passport(request: web.Request) -> web.StreamResponse:
    """Write the passport archive off the event loop and stream it as a download; then remove it."""
    ctx = request.app[CTX]
    data_dir = ctx.hub.data_dir
    try:
        folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix=".passport-", dir=data_dir))
    except OSError as exc:
        return await _refused(request, exc, data_dir)
    try:
        try:
            path = await asyncio.to_thread(_export, data_dir, folder, ctx.hub.config.hub.id)
        except OSError as exc:
            return await _refused(request, exc, data_dir)
        except AgentError as exc:  # the export names the file system's refusal as the owner's error
            if not isinstance(exc.__cause__, OSError):
                raise
            return await _refused(request, exc.__cause__, data_dir)
        response = web.StreamResponse(
            headers={
                "Content-Type": "application/zip",
                "Content-Disposition": f'attachment; filename="{path.name}"',
                "Content-Length": str(path.stat().st_size),
            }
        )
        await response.prepare(request)
        with path.open("rb") as archive:
            while chunk := await asyncio.to_thread(archive.read, CHUNK):
                await response.write(chunk)
        await response.write_eof()
        return response
    finally:
        await asyncio.to_thread(shutil.rmtree, folder, True)
