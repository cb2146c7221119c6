"""The consent centre: every grant, a preview of what exactly a new one sends, revoking, receipts.

Reads go through the dashboard's read-only ledger connection. Giving and revoking go through the consent
layer (``add_grant``, ``revoke``) on the hub's ledger thread, its one ledger writer, exactly as
``hearth consent grant`` / ``revoke`` do: the revocation purges the grant's queued messages in the same
transaction, and the publisher re-checks every grant before each send.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiohttp import web

from agent.config import seconds
from agent.config.durations import PATTERN
from agent.consent import budget
from agent.consent import ledger as consent_ledger
from agent.consent.destination import hub_receipt
from agent.consent.dp import DpPolicy, held, policy_from_options
from agent.consent.grants import Grant, new_grant
from agent.errors import AgentError, ConsentError
from agent.store import queries
from agent.web.app import CTX, WebContext
from agent.web.consent_preview import preview

T = TypeVar("T")

GRANULARITIES = ("summary:15m", "summary:1h", "summary:1d", "events", "raw")
DEFAULT_PREFIX = "hearth/v1"
DEFAULT_LAG_S = 2.0


def setup(app: web.Application, ctx: WebContext) -> None:
    """Add ``/consent`` with its preview, grant, revoke and receipt routes."""
    app.router.add_get("/consent", consent_page)
    app.router.add_post("/consent/preview", preview_grant)
    app.router.add_post("/consent/grants", give_grant)
    app.router.add_post("/consent/{grant}/revoke", revoke_grant)
    app.router.add_get("/consent/{grant}/receipt", show_receipt)
    app.router.add_get("/consent/{grant}/receipt.json", download_receipt)
    ctx.nav.append(("/consent", "Consent"))


def when(ts: float | None) -> str:
    """A UTC time as pages show it, or an em dash."""
    return "—" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


async def in_ledger(ctx: WebContext, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn(ledger, ...)`` on the hub's ledger thread, where every ledger change is made."""
    return await ctx.hub.ledger.run(fn, *args, **kwargs)


async def consent_page(request: web.Request) -> web.StreamResponse:
    """Every grant (active first), and the form to propose a new one."""
    notice = None
    if "granted" in request.query:
        notice = f"Granted {request.query['granted']}. Its receipt is below."
    elif "revoked" in request.query:
        purged = request.query.get("purged", "0")
        notice = (
            f"Revoked {request.query['revoked']}: nothing more leaves under it; "
            f"{purged if purged.isdigit() else 0} queued messages were deleted unsent."
        )
    return await _render_list(request, notice=notice)


async def _render_list(
    request: web.Request, *, status: int = 200, error: str | None = None, notice: str | None = None
) -> web.Response:
    ctx = request.app[CTX]
    states, budgets = await ctx.read_ledger(_grants_and_budgets, now=time.time())
    states.sort(key=lambda s: s.status != "active")
    form: Mapping[str, Any] = await request.post() if request.method == "POST" else request.query
    return ctx.render(
        request,
        "consent.html",
        status=status,
        title="Consent",
        states=states,
        budgets=budgets,
        held=held() if budgets else None,
        error=error,
        notice=notice,
        form={
            k: str(form.get(k, "")) for k in ("recipient", "purpose", "strands", "granularity", *_DP_FIELDS)
        }
        | {"precision": str(form.get("precision", "")), "expires": str(form.get("expires", ""))},
        granularities=GRANULARITIES,
        streams=await ctx.read(queries.stream_names),
        upstream=ctx.hub.config.upstream is not None,
        when=when,
    )


def _grants_and_budgets(
    conn: sqlite3.Connection, *, now: float
) -> tuple[list[consent_ledger.GrantState], dict[str, budget.Standing]]:
    """Every grant, and for each noised one its recipient's budget this period."""
    states = consent_ledger.grants(conn, now=now)
    budgets = {
        s.grant.id: budget.standing(conn, s.grant.recipient, s.grant.dp, now=now)
        for s in states
        if s.grant.dp is not None
    }
    return states, budgets


def proposed(form: Mapping[str, Any], *, now: float, allow_raw: bool) -> Grant:
    """The grant the form describes (validated by the consent layer); ``ConsentError`` names the field."""
    strands = [s for s in re.split(r"[\s,]+", str(form.get("strands", ""))) if s]
    precision_text = str(form.get("precision", "")).strip()
    precision = None
    if precision_text:
        try:
            precision = int(precision_text)
        except ValueError:
            raise ConsentError(f"precision {precision_text!r} is not a whole number") from None
    expires = str(form.get("expires", "")).strip()
    expires_at = None
    if expires:
        if not re.match(PATTERN, expires):
            raise ConsentError(f"invalid expiry {expires!r}", hint="a duration such as 30d or 12h")
        expires_at = now + seconds(expires)
    return new_grant(
        dp=_policy(form),
        recipient=str(form.get("recipient", "")).strip(),
        purpose=str(form.get("purpose", "")),
        strands=strands,
        granularity=str(form.get("granularity", "")),
        precision=precision,
        now=now,
        expires_at=expires_at,
        allow_raw=allow_raw,
    )


_DP_FIELDS = ("dp", "dp_loss", "dp_bounds", "dp_budget")


def _policy(form: Mapping[str, Any]) -> DpPolicy | None:
    """The noise the form asks for (none unless a mechanism is chosen); ``ConsentError`` names the field."""
    mechanism = str(form.get("dp", "")).strip()
    if not mechanism:
        return None
    text = str(form.get("dp_loss", "")).strip()
    try:
        loss = float(text)
    except ValueError:
        raise ConsentError(f"privacy loss per message {text!r} is not a number", hint="0.5") from None
    laplace = mechanism == "laplace"
    return policy_from_options(
        mechanism,
        epsilon=loss if laplace else None,
        rho=None if laplace else loss,
        bounds=str(form.get("dp_bounds", "")).strip() or None,
        budget=str(form.get("dp_budget", "")).strip() or None,
    )


async def preview_grant(request: web.Request) -> web.StreamResponse:
    """Show what the proposed grant would send, computed from the hub's recent data, before it is given."""
    ctx = request.app[CTX]
    form = await request.post()
    now = time.time()
    try:
        grant = proposed(form, now=now, allow_raw=True)
    except AgentError as exc:
        return await _render_list(request, status=400, error=_message(exc))
    up = ctx.hub.config.upstream
    shown = await ctx.read(
        preview,
        grant=grant,
        hub_id=ctx.hub.config.hub.id,
        prefix=up.topic_prefix if up is not None else DEFAULT_PREFIX,
        now=now,
        lag_s=seconds(up.summary_lag) if up is not None else DEFAULT_LAG_S,
    )
    return ctx.render(
        request,
        "consent_preview.html",
        title="Check before granting",
        preview=shown,
        form={k: str(v) for k, v in form.items() if k != "csrf"},
        raw=grant.grain.kind == "raw",
        upstream=up is not None,
        when=when,
    )


async def give_grant(request: web.Request) -> web.StreamResponse:
    """Record the previewed grant with its receipt and audit entry; raw needs the explicit confirmation."""
    ctx = request.app[CTX]
    form = await request.post()
    now = time.time()
    try:
        grant = proposed(form, now=now, allow_raw=form.get("allow_raw") == "yes")
        receipt = hub_receipt(grant, ctx.hub.config)
        await in_ledger(ctx, consent_ledger.add_grant, grant, receipt)
    except AgentError as exc:
        return await _render_list(request, status=400, error=_message(exc))
    raise web.HTTPSeeOther(f"/consent?granted={grant.id}")


async def revoke_grant(request: web.Request) -> web.StreamResponse:
    """Revoke at once: queued messages of the grant are deleted unsent, in the same transaction."""
    ctx = request.app[CTX]
    grant_id = request.match_info["grant"]
    try:
        purged = await in_ledger(ctx, consent_ledger.revoke, grant_id, now=time.time())
    except AgentError as exc:
        return await _render_list(request, status=400, error=_message(exc))
    raise web.HTTPSeeOther(f"/consent?revoked={grant_id}&purged={purged}")


async def _receipt(request: web.Request) -> str:
    ctx = request.app[CTX]
    try:
        return await ctx.read_ledger(consent_ledger.receipt, grant_id=request.match_info["grant"])
    except ConsentError as exc:
        raise web.HTTPNotFound(text=_message(exc)) from exc


async def show_receipt(request: web.Request) -> web.StreamResponse:
    """The grant's consent receipt, as stored."""
    ctx = request.app[CTX]
    document = await _receipt(request)
    grant_id = request.match_info["grant"]
    state = await ctx.read_ledger(consent_ledger.get_grant, grant_id=grant_id, now=time.time())
    return ctx.render(
        request,
        "consent_receipt.html",
        title=f"Receipt {grant_id}",
        state=state,
        document=document,
        when=when,
    )


async def download_receipt(request: web.Request) -> web.StreamResponse:
    """The grant's consent receipt as a JSON file to keep."""
    document = await _receipt(request)
    name = f"receipt-{request.match_info['grant']}.json"
    return web.Response(
        text=document,
        content_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _message(exc: AgentError) -> str:
    return exc.message + (f" ({exc.hint})" if exc.hint else "")
