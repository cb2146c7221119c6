"""BLE devices: nearby candidates (live, in memory only), adopting one, and forgetting an adopted one.

Candidates come from the running BLE source's discovery table, which it keeps only while this page is
being looked at; nothing about them is stored or logged. Adopting and forgetting change the adoption
table on the store's writer thread, exactly as ``hearth ble adopt`` / ``forget`` do (forgetting is the
same owner action), and then have the source re-read it at once.
A bindkey is a secret: it is read from the form and never written back into a page or a log.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from agent.errors import AgentError
from agent.web import queries
from agent.web.app import CTX, WebContext, form_error

if TYPE_CHECKING:
    from agent.sources.ble import BleSource
    from agent.sources.ble.discovery import Candidate

# Discovery runs while someone looks: a page load starts it for this long, and it goes on while a
# browser listens to the ``discovery`` topic.
DISCOVERY_S = 60.0
SHOWN = 50


def setup(app: web.Application, ctx: WebContext) -> None:
    """Add ``/ble`` with its adopt and forget actions, and feed discoveries to the ``discovery`` topic."""
    app.router.add_get("/ble", ble_page)
    app.router.add_post("/ble/adopt", adopt)
    app.router.add_get("/ble/forget/{name}", confirm_forget)
    app.router.add_post("/ble/forget/{name}", forget)
    ctx.nav.append(("/ble", "BLE"))
    feed = ctx.feed
    for source in ble_sources(ctx):

        def publish(candidate: Candidate) -> None:
            feed.publish("discovery", candidate_json(candidate), key=candidate.address)

        source.on_discovered = publish
        source.keep_discovering = lambda: any("discovery" in c.topics for c in feed.clients)


def ble_sources(ctx: WebContext) -> list[BleSource]:
    """The hub's BLE sources (none imports bleak on a hub without BLE)."""
    sources = ctx.hub.sources()
    if not any(source.kind == "ble" for source in sources):
        return []
    from agent.sources.ble import BleSource

    return [source for source in sources if isinstance(source, BleSource)]


def candidate_json(candidate: Candidate) -> dict[str, Any]:
    """What the page shows of a candidate (also the ``discovery`` event's payload)."""
    return {
        "address": candidate.address,
        "name": candidate.name,
        "kind": candidate.kind,
        "rssi": candidate.rssi,
        "adverts": candidate.adverts,
        "seen": math.floor(candidate.last_seen),
    }


async def ble_page(request: web.Request) -> web.StreamResponse:
    """Candidates nearby, the adopt form and the adopted devices."""
    ctx = request.app[CTX]
    address = request.query.get("adopt", "")
    notice = None
    if "adopted" in request.query:
        notice = f"Adopted {request.query['adopted']}: its readings appear under Streams within seconds."
    elif "forgot" in request.query:
        erased = request.query.get("erased", "0")
        notice = f"Forgot {request.query['forgot']} and erased {erased if erased.isdigit() else 0} readings."
    name = _suggested_name(address) if address and ble_sources(ctx) else ""
    return await _render(request, address=address, name=name, notice=notice)


async def _render(
    request: web.Request,
    *,
    status: int = 200,
    error: str | None = None,
    address: str = "",
    name: str = "",
    notice: str | None = None,
) -> web.Response:
    ctx = request.app[CTX]
    sources = ble_sources(ctx)
    adopted = await ctx.read(queries.adopted_ble)
    taken = {a.address for a in adopted}
    candidates: list[Candidate] = []
    for source in sources:
        candidates += source.discover(DISCOVERY_S).ranked()
    shown = [candidate_json(c) for c in candidates if c.address not in taken][:SHOWN]
    return ctx.render(
        request,
        "ble.html",
        status=status,
        title="BLE devices",
        enabled=bool(sources),
        candidates=shown,
        adopted=adopted,
        error=error,
        notice=notice,
        address=address,
        name=name,
        now=time.time(),
    )


async def adopt(request: web.Request) -> web.StreamResponse:
    """Adopt the posted address under the posted name (and bindkey) as ``hearth ble adopt`` does, but
    never re-keying a device adopted already; errors are shown on the page."""
    ctx = request.app[CTX]
    form = await request.post()
    address = str(form.get("address", "")).strip()
    name = str(form.get("name", "")).strip()
    bindkey = str(form.get("bindkey", "")).strip()
    if not ble_sources(ctx):
        error = 'no BLE source is configured (add [[sources]] kind = "ble")'
        return await _render(request, status=400, error=error, address=address, name=name)
    params = {"address": address, "name": name, "bindkey": bindkey or None, "rekey": False}
    try:
        adoption = await ctx.hub.perform("ble.adopt", params)
    except AgentError as exc:
        return await _render(request, status=400, error=_message(exc), address=address, name=name)
    raise web.HTTPSeeOther(f"/ble?adopted={adoption['name']}")


async def confirm_forget(request: web.Request) -> web.StreamResponse:
    """Ask before forgetting: forgetting erases the device's readings."""
    ctx = request.app[CTX]
    name = request.match_info["name"]
    adopted = {a.name: a for a in await ctx.read(queries.adopted_ble)}
    if name not in adopted:
        raise web.HTTPNotFound(text=f"no adopted BLE device is named {name!r}")
    return ctx.render(request, "ble_forget.html", title=f"Forget {name}", device=adopted[name])


async def forget(request: web.Request) -> web.StreamResponse:
    """Forget an adopted device and erase its data, as ``hearth ble forget`` does."""
    ctx = request.app[CTX]
    name = request.match_info["name"]
    try:
        result = await ctx.hub.perform("ble.forget", {"name": name})
    except AgentError as exc:
        return await _render(request, status=404, error=_message(exc))
    raise web.HTTPSeeOther(f"/ble?forgot={name}&erased={result['erased']}")


# The owner's inputs (as adoption names them in its errors) by the labels of the adoption form.
LABELS = {"address": "Address", "name": "Name", "bindkey": "Bindkey"}


def _message(exc: AgentError) -> str:
    return form_error(exc, LABELS)


def _suggested_name(address: str) -> str:
    from agent.sources.ble.simulated import DEMO_DEVICES

    return next((d.suggested_name for d in DEMO_DEVICES if d.address == address), "")
