"""Intents: ask the market for offers, read each intent's inbox, answer one offer, withdraw an intent.

Every change is the owner action ``hearth intent`` runs (``agent.control.actions``), performed on the
running hub: its ledger writer records and audits it and its intent service makes the exchange with the
market. Reads are the same actions without an exchange (``intent.show`` with ``fetch`` off).
Offers are a stranger's words: the templates print them as escaped text, and a link is shown, never made
a link, so nothing in an offer is rendered as markup, run or opened.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from agent.config.durations import PATTERN, seconds
from agent.consent import ledger as consent_ledger
from agent.consent.grants import MARKET
from agent.errors import AgentError, IntentError
from agent.intents.model import CATEGORIES, MAX_ANSWER, MAX_TEXT
from agent.store import queries
from agent.web.app import CTX, WebContext, error_text, form_error

DEFAULT_LIFETIME = "14d"
DEFAULT_WINDOWS = 24
_FIELDS = ("category", "text", "lifetime", "show", "windows", "via")


def setup(app: web.Application, ctx: WebContext) -> None:
    """Add ``/intents`` with its create, check, withdraw and answer routes."""
    app.router.add_get("/intents", intents_page)
    app.router.add_post("/intents", create_intent)
    app.router.add_get("/intents/{intent}", intent_page)
    app.router.add_post("/intents/{intent}/check", check_offers)
    app.router.add_post("/intents/{intent}/withdraw", withdraw_intent)
    app.router.add_post("/intents/{intent}/offers/{number}/answer", answer_offer)
    ctx.nav.append(("/intents", "Intents"))


async def intents_page(request: web.Request) -> web.StreamResponse:
    """Every intent (newest first) and the form to publish a new one."""
    notice = None
    if "withdrawn" in request.query:
        notice = f"Withdrew intent {request.query['withdrawn'][:12]}: it is off the market."
    return await _render_list(request, notice=notice)


async def _render_list(
    request: web.Request, *, status: int = 200, error: str | None = None, notice: str | None = None
) -> web.Response:
    ctx = request.app[CTX]
    views = await ctx.hub.perform("intent.list", {})
    shown = await ctx.read_ledger(_market_strands, now=time.time())
    form: Mapping[str, Any] = await request.post() if request.method == "POST" else {}
    config = ctx.hub.config
    return ctx.render(
        request,
        "intents.html",
        status=status,
        title="Intents",
        intents=views,
        error=error,
        notice=notice,
        form={k: str(form.get(k, "")) for k in _FIELDS},
        categories=CATEGORIES,
        market_strands=shown,
        streams=await ctx.read(queries.stream_names),
        market=config.market is not None,
        upstream=config.upstream is not None,
        max_text=MAX_TEXT,
        default_lifetime=DEFAULT_LIFETIME,
        default_windows=DEFAULT_WINDOWS,
    )


def _market_strands(conn: Any, *, now: float) -> list[str]:
    """The strands active grants to the market recipient cover: what an intent may show."""
    return sorted(
        {s for g in consent_ledger.active_grants(conn, now=now) if g.recipient == MARKET for s in g.strands}
    )


def _create_params(form: Mapping[str, Any]) -> dict[str, Any]:
    """The ``intent.create`` arguments the form describes; ``IntentError`` names the field that is wrong."""
    lifetime = str(form.get("lifetime", "")).strip() or DEFAULT_LIFETIME
    if not re.fullmatch(PATTERN, lifetime):
        raise IntentError(
            f"invalid lifetime {lifetime!r}", hint="a duration", field="lifetime", example="14d"
        )
    windows_text = str(form.get("windows", "")).strip() or str(DEFAULT_WINDOWS)
    if not windows_text.isdigit() or int(windows_text) < 1:
        raise IntentError(
            f"windows {windows_text!r} is not a whole number above 0", field="windows", example="24"
        )
    via = str(form.get("via", "")).strip() or "market"
    if via not in ("market", "upstream"):
        raise IntentError(f"unknown broker {via!r}", hint="{field} is market or upstream", field="via")
    return {
        "category": str(form.get("category", "")).strip(),
        "text": str(form.get("text", "")),
        "lifetime_s": seconds(lifetime),
        "show": [s for s in re.split(r"[\s,]+", str(form.get("show", ""))) if s],
        "windows": int(windows_text),
        "via": via,
    }


async def create_intent(request: web.Request) -> web.StreamResponse:
    """Publish the intent the form describes, as ``hearth intent create`` does."""
    ctx = request.app[CTX]
    form = await request.post()
    try:
        view = await ctx.hub.perform("intent.create", _create_params(form))
    except AgentError as exc:
        return await _render_list(request, status=400, error=_message(exc))
    raise web.HTTPSeeOther(f"/intents/{view['id']}?created=1")


async def _show(request: web.Request, *, fetch: bool) -> dict[str, Any]:
    ctx = request.app[CTX]
    try:
        view: dict[str, Any] = await ctx.hub.perform(
            "intent.show", {"intent_id": request.match_info["intent"], "fetch": fetch}
        )
    except IntentError as exc:
        raise web.HTTPNotFound(text=error_text(exc, LABELS)) from exc
    return view


async def intent_page(request: web.Request) -> web.StreamResponse:
    """One intent: what it published, until when, and its inbox of offers (as the ledger holds them)."""
    view = await _show(request, fetch=False)
    notice = None
    if "created" in request.query:
        notice = "Published. Offers come into the inbox below as vendors answer."
    elif request.query.get("answered", "").isdigit():
        notice = (
            f"Answered offer {request.query['answered']}: your words go out over the intent's own"
            " connection, and nothing else."
        )
    elif "checked" in request.query:
        notice = "Looked for offers on the market just now."
    return _render_intent(request, view, notice=notice)


def _render_intent(
    request: web.Request,
    view: dict[str, Any],
    *,
    status: int = 200,
    error: str | None = None,
    notice: str | None = None,
    answers: Mapping[int, str] | None = None,
) -> web.Response:
    ctx = request.app[CTX]
    return ctx.render(
        request,
        "intent.html",
        status=status,
        title=f"Intent {view['id'][:12]}",
        intent=view,
        error=error or view.get("problem"),
        notice=notice,
        answers=answers or {},
        max_answer=MAX_ANSWER,
    )


async def check_offers(request: web.Request) -> web.StreamResponse:
    """Collect the offers the market holds for the intent now (and send pending answers)."""
    view = await _show(request, fetch=True)
    if view.get("problem"):
        return _render_intent(request, view, status=502)
    raise web.HTTPSeeOther(f"/intents/{view['id']}?checked=1")


async def withdraw_intent(request: web.Request) -> web.StreamResponse:
    """End the intent now and clear it from the market, as ``hearth intent withdraw`` does."""
    ctx = request.app[CTX]
    try:
        view = await ctx.hub.perform("intent.withdraw", {"intent_id": request.match_info["intent"]})
    except IntentError as exc:
        return await _render_list(request, status=400, error=_message(exc))
    raise web.HTTPSeeOther(f"/intents?withdrawn={view['id']}")


async def answer_offer(request: web.Request) -> web.StreamResponse:
    """Answer one offer with the owner's words and nothing else, as ``hearth intent answer`` does."""
    ctx = request.app[CTX]
    form = await request.post()
    number = _number(request.match_info["number"])
    text = str(form.get("text", ""))
    try:
        await ctx.hub.perform(
            "intent.answer", {"intent_id": request.match_info["intent"], "offer": number, "text": text}
        )
    except AgentError as exc:
        view = await _show(request, fetch=False)
        return _render_intent(request, view, status=400, error=_message(exc), answers={number: text})
    raise web.HTTPSeeOther(f"/intents/{request.match_info['intent']}?answered={number}")


def _number(text: str) -> int:
    if not text.isdigit():
        raise web.HTTPNotFound(text=f"no offer {text!r}")
    return int(text)


# The owner's inputs (as the intent actions name them in their errors) by the labels of the form.
LABELS = {
    "category": "Category",
    "text": "What you want",
    "lifetime": "Stays up for",
    "show": "Data to show",
    "windows": "Summary windows to show",
    "via": "Publish on",
}


def _message(exc: AgentError) -> str:
    return form_error(exc, LABELS)
