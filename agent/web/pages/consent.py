"""The consent centre: every grant, a preview of what exactly a new one sends, revoking, receipts.

Reads go through the dashboard's read-only ledger connection. A grant is checked (for the preview) and
given by the owner action ``hearth consent grant`` performs, so both refuse the same mistakes in the same
words: the form only names the fields its own way (``FIELDS``). Revoking is the owner action
``hearth consent revoke`` performs, on the hub's one ledger writer: the revocation purges the grant's
queued messages in the same transaction, ends the intents that showed its data, and the publisher
re-checks every grant before each send.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec
from aiohttp import web

from agent.config import seconds
from agent.config.durations import PATTERN
from agent.consent import budget
from agent.consent import ledger as consent_ledger
from agent.consent.dp import DpPolicy, held, policy_from_options
from agent.consent.grants import Grant
from agent.errors import AgentError, ConsentError
from agent.sources.strands import known_strands
from agent.store import queries
from agent.web.app import CTX, WebContext, error_text, form_error
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


async def consent_page(request: web.Request) -> web.StreamResponse:
    """Every grant (active first), and the form to propose a new one."""
    notice = None
    # The notice follows a redirect from this page's own forms; a link anyone could craft must not tell the
    # owner a grant was given or revoked that was not, so the ledger is asked what the grant's status is.
    if "granted" in request.query and await _status_of(request, request.query["granted"]) == "active":
        notice = f"Granted {request.query['granted']}. Its receipt is below."
    elif "revoked" in request.query and await _status_of(request, request.query["revoked"]) == "revoked":
        purged = request.query.get("purged", "0")
        intents = request.query.get("intents", "0")
        notice = (
            f"Revoked {request.query['revoked']}: nothing more leaves under it; "
            f"{purged if purged.isdigit() else 0} queued messages were deleted unsent."
        )
        if intents.isdigit() and int(intents):
            ended = (
                "1 intent that showed its data was"
                if intents == "1"
                else f"{intents} intents that showed its data were"
            )
            notice += f" {ended} withdrawn from the market."
    return await _render_list(request, notice=notice)


async def _status_of(request: web.Request, grant_id: str) -> str | None:
    """The status of grant ``grant_id`` in the ledger now (None: there is no such grant)."""
    try:
        read = request.app[CTX].read_ledger
        state = await read(consent_ledger.get_grant, grant_id=grant_id, now=time.time())
    except ConsentError:
        return None
    return state.status


# The owner's inputs (as the consent layer names them in its errors): the form field and its label.
FIELDS: dict[str, tuple[str, str]] = {
    "recipient": ("recipient", "Recipient"),
    "purpose": ("purpose", "Purpose"),
    "strand": ("strands", "Strands"),
    "granularity": ("granularity", "Granularity"),
    "precision": ("precision", "Round to decimal places"),
    "expires": ("expires", "Ends after"),
    "allow_raw": ("allow_raw", "I understand that every raw reading will be sent"),
    "dp": ("dp", "Mechanism"),
    "epsilon": ("dp_loss", "Privacy loss per message"),
    "rho": ("dp_loss", "Privacy loss per message"),
    "bounds": ("dp_bounds", "Bounds"),
    "budget": ("dp_budget", "Privacy budget"),
}
LABELS = {field: label for field, (_, label) in FIELDS.items()}


async def _render_list(
    request: web.Request,
    *,
    status: int = 200,
    error: AgentError | str | None = None,
    notice: str | None = None,
) -> web.Response:
    ctx = request.app[CTX]
    invalid = FIELDS.get(error.field or "", ("", ""))[0] if isinstance(error, AgentError) else ""
    if isinstance(error, AgentError):
        error = form_error(error, LABELS)
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
        invalid=invalid,
        notice=notice,
        form={
            k: str(form.get(k, "")) for k in ("recipient", "purpose", "strands", "granularity", *_DP_FIELDS)
        }
        | {"precision": str(form.get("precision", "")), "expires": str(form.get("expires", ""))},
        granularities=GRANULARITIES,
        streams=sorted({*await ctx.read(queries.stream_names), *known_strands(ctx.hub.config)}),
        upstream=ctx.hub.config.upstream is not None,
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


def choices(form: Mapping[str, Any], *, allow_raw: bool) -> dict[str, Any]:
    """The ``consent.grant`` arguments the form describes; ``ConsentError`` names the field it cannot read."""
    precision_text = str(form.get("precision", "")).strip()
    precision = None
    if precision_text:
        try:
            precision = int(precision_text)
        except ValueError:
            raise ConsentError(
                f"precision {precision_text!r} is not a whole number", field="precision", example="1"
            ) from None
    expires = str(form.get("expires", "")).strip()
    if expires and not re.match(PATTERN, expires):
        raise ConsentError(f"invalid expiry {expires!r}", hint="a duration", field="expires", example="30d")
    policy = _policy(form)
    return {
        "recipient": str(form.get("recipient", "")).strip(),
        "purpose": str(form.get("purpose", "")),
        "strands": [s for s in re.split(r"[\s,]+", str(form.get("strands", ""))) if s],
        "granularity": str(form.get("granularity", "")),
        "precision": precision,
        "expires_s": seconds(expires) if expires else None,
        "allow_raw": allow_raw,
        "dp": None if policy is None else msgspec.to_builtins(policy),
    }


_DP_FIELDS = ("dp", "dp_loss", "dp_bounds", "dp_budget")


def _policy(form: Mapping[str, Any]) -> DpPolicy | None:
    """The noise the form asks for (none unless a mechanism is chosen); ``ConsentError`` names the field."""
    mechanism = str(form.get("dp", "")).strip()
    if not mechanism:
        return None
    laplace = mechanism == "laplace"
    text = str(form.get("dp_loss", "")).strip()
    try:
        loss = float(text)
    except ValueError:
        raise ConsentError(
            f"privacy loss per message {text!r} is not a number",
            field="epsilon" if laplace else "rho",
            example="0.5" if laplace else "0.05",
        ) from None
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
        checked = await ctx.hub.perform("consent.grant", {**choices(form, allow_raw=True), "record": False})
    except AgentError as exc:
        return await _render_list(request, status=400, error=exc)
    grant = msgspec.convert(checked["grant"], Grant)
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
        warnings=checked["warnings"],
        form={k: str(v) for k, v in form.items() if k != "csrf"},
        raw=grant.grain.kind == "raw",
        upstream=up is not None,
    )


async def give_grant(request: web.Request) -> web.StreamResponse:
    """Record the previewed grant with its receipt and audit entry (``hearth consent grant``'s action); raw
    needs the explicit confirmation."""
    ctx = request.app[CTX]
    form = await request.post()
    try:
        given = await ctx.hub.perform(
            "consent.grant", choices(form, allow_raw=form.get("allow_raw") == "yes")
        )
    except AgentError as exc:
        return await _render_list(request, status=400, error=exc)
    raise web.HTTPSeeOther(f"/consent?granted={given['grant']['id']}")


async def revoke_grant(request: web.Request) -> web.StreamResponse:
    """Revoke at once: queued messages of the grant are deleted unsent, in the same transaction."""
    ctx = request.app[CTX]
    grant_id = request.match_info["grant"]
    try:
        # The owner action ``hearth consent revoke`` performs: it also ends the intents that showed the
        # grant's data and takes them off the market.
        done = await ctx.hub.perform("consent.revoke", {"grant_id": grant_id})
    except AgentError as exc:
        return await _render_list(request, status=400, error=exc)
    withdrawn = len(done["intents"])
    raise web.HTTPSeeOther(f"/consent?revoked={grant_id}&purged={done['purged']}&intents={withdrawn}")


async def _receipt(request: web.Request) -> str:
    ctx = request.app[CTX]
    try:
        return await ctx.read_ledger(consent_ledger.receipt, grant_id=request.match_info["grant"])
    except ConsentError as exc:
        raise web.HTTPNotFound(text=error_text(exc, LABELS)) from exc


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
