"""Every owner action, once: what ``hearth consent``, ``forget``, ``ble`` and ``sync`` ask of a hub.

Each action takes an ``OwnerHub`` and plain keyword arguments and returns plain JSON-ready data, so the
same code runs inside the running hub (reached over the control socket) and in a command that found no
hub running. Rules live in the consent, passport and adoption modules; actions only sequence them.
"""

from __future__ import annotations

import inspect
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec

from agent.config import HubClock, seconds
from agent.consent import budget, destination, outbox, passport
from agent.consent import ledger as consent_ledger
from agent.consent.destination import hub_receipt
from agent.consent.dp import DpPolicy
from agent.consent.grants import new_grant
from agent.consent.strands import CONTEXT, LABELS, check_pattern, matches, may_name_context, unknown
from agent.control.owner import OwnerHub
from agent.errors import AgentError, LearningError, See, StoreError
from agent.sources.ble.adoption import AdoptionError, AdoptionStore, normalise_address, parse_bindkey
from agent.sources.strands import known_strands
from agent.store import queries
from agent.store.readings import ReadingsStore
from agent.store.sqlite import storage_problem, transaction

Action = Callable[..., Awaitable[Any]]
log = logging.getLogger(__name__)

ACTIONS: dict[str, Action] = {}


def action(name: str) -> Callable[[Action], Action]:
    """Register an owner action under ``name`` (the wire name the CLI sends)."""

    def register(fn: Action) -> Action:
        ACTIONS[name] = fn
        return fn

    return register


async def perform(hub: OwnerHub, name: str, params: dict[str, Any]) -> Any:
    """Carry out action ``name`` with ``params``; ``AgentError`` for an unknown action or bad arguments."""
    fn = ACTIONS.get(name)
    if fn is None:
        raise AgentError(f"this hub does not know the action {name!r}", hint="is the hub the same version?")
    try:
        inspect.signature(fn).bind(hub, **params)
    except TypeError as exc:
        raise AgentError(f"bad arguments for {name}: {exc}") from exc
    return await fn(hub, **params)


def refused(exc: sqlite3.OperationalError, data_dir: Path) -> StoreError | None:
    """The owner's error when the hub's disk refused an action's write (full, read-only), else None."""
    problem = storage_problem(exc, data_dir)
    if problem is None:
        return None
    log.warning("owner action refused: %s", problem)
    return StoreError(
        f"the hub cannot write its data files: {problem}",
        hint="free space in (or repair) the data folder, then try again",
    )


def _state(state: consent_ledger.GrantState) -> dict[str, Any]:
    return {
        "grant": msgspec.to_builtins(state.grant),
        "status": state.status,
        "ended_at": state.ended_at,
        "queued": state.queued,
    }


# -- consent -----------------------------------------------------------------------------------------


@action("consent.grant")
async def grant(
    hub: OwnerHub,
    *,
    recipient: str,
    purpose: str,
    strands: list[str],
    granularity: str,
    precision: int | None = None,
    expires_s: float | None = None,
    allow_raw: bool = False,
    dp: dict[str, Any] | None = None,
    record: bool = True,
) -> dict[str, Any]:
    """Record a new grant with its receipt (with ``record`` off, only check it: the dashboard's preview);
    returns the grant and warnings about its strands (a glob that names none of them yet)."""
    now = time.time()
    try:
        policy = None if dp is None else msgspec.convert(dp, DpPolicy)
    except msgspec.ValidationError as exc:
        raise AgentError(f"bad differential privacy policy: {exc}") from exc
    made = new_grant(
        recipient=recipient,
        purpose=purpose,
        strands=strands,
        granularity=granularity,
        precision=precision,
        now=now,
        expires_at=None if expires_s is None else now + expires_s,
        allow_raw=allow_raw,
        dp=policy,
    )
    config = hub.config
    recorded = await hub.readings(lambda store: queries.stream_names(store.conn))
    warnings = unknown(made.strands, recorded=recorded, made=known_strands(config))
    if record:
        await hub.ledger(consent_ledger.add_grant, made, hub_receipt(made, config))
    return {"grant": msgspec.to_builtins(made), "upstream": config.upstream is not None, "warnings": warnings}


@action("consent.list")
async def list_grants(hub: OwnerHub) -> dict[str, Any]:
    """Every grant with its status, newest first; where consented data goes, and every audited change."""

    def read(conn: Any) -> tuple[list[dict[str, Any]], list[destination.Moved]]:
        now = time.time()
        shown = [_with_budget(conn, s, now=now) for s in consent_ledger.grants(conn, now=now)]
        return shown, destination.history(conn)

    shown, moves = await hub.ledger(read)
    return {"grants": shown, "destination": destination.lines(hub.config, moves)}


def _with_budget(conn: sqlite3.Connection, state: consent_ledger.GrantState, *, now: float) -> dict[str, Any]:
    """The grant as ``_state`` shows it; a noised one also with its recipient's budget this period."""
    shown = _state(state)
    policy = state.grant.dp
    if policy is not None:
        standing = budget.standing(conn, state.grant.recipient, policy, now=now)
        shown["budget"] = {**standing._asdict(), "left": standing.left}
    return shown


@action("consent.show")
async def show_grant(hub: OwnerHub, *, grant_id: str) -> dict[str, Any]:
    """One grant with its status; for a noised grant, its recipient's budget this period."""

    def read(conn: Any) -> dict[str, Any]:
        now = time.time()
        return _with_budget(conn, consent_ledger.get_grant(conn, grant_id, now=now), now=now)

    return await hub.ledger(read)


@action("consent.revoke")
async def revoke(hub: OwnerHub, *, grant_id: str) -> dict[str, Any]:
    """Revoke a grant at once, purging its unsent messages."""
    purged = await hub.ledger(consent_ledger.revoke, grant_id, now=time.time())
    # Intents that showed the grant's data end with it, and are taken off the market now.
    withdrawn = await _settle_intents(hub)
    return {"grant_id": grant_id, "purged": purged, "intents": withdrawn}


@action("consent.receipt")
async def receipt(hub: OwnerHub, *, grant_id: str) -> str:
    """The stored consent receipt (JSON text) of a grant."""
    return await hub.ledger(consent_ledger.receipt, grant_id)


# -- passport ----------------------------------------------------------------------------------------


@action("forget.preview")
async def forget_preview(hub: OwnerHub, *, pattern: str) -> list[str]:
    """What ``forget`` would erase for ``pattern``: streams here and strands that left under a grant."""
    check_pattern(pattern)
    local = await hub.readings(passport.matching_streams, pattern)
    received = await hub.ledger(passport.received_strands, pattern)
    return sorted(set(local) | {stream for _, stream in received})


@action("forget")
async def forget(hub: OwnerHub, *, pattern: str) -> dict[str, Any]:
    """Erase the strands ``pattern`` names and what was made from them (``passport.named_by``), here and
    (by request) at every recipient that received them."""
    check_pattern(pattern)
    local = await hub.readings(passport.matching_streams, pattern)
    result = await _queue_erasure(hub, pattern, local)
    # Running forecasters stop learning the streams before the erase, so none of it is made or saved again.
    hub.forgetting(result.streams)
    # Commit what sources handed over before the erase, so nothing of the strands outlives it.
    await hub.settle()
    readings, rollups = await hub.readings(passport.erase_streams, result.streams)
    labels = await hub.ledger(_forget_labels, pattern, now=time.time()) if may_name_context(pattern) else {}
    return {
        "streams": result.streams,
        "readings": readings,
        "rollups": rollups,
        "purged_unsent": result.purged_unsent,
        "requests": result.requests,
        "labels": labels,
    }


def _forget_labels(conn: sqlite3.Connection, pattern: str, *, now: float) -> dict[str, int]:
    """Forgetting ``context.<model>`` (or ``labels.<model>``) forgets what the owner taught it: its labels
    and the versions adapted from them go, and it runs as shipped again. Labels erased, by model (only
    models that had any)."""
    from agent.learning import examples, labels, versions

    erased = {}
    with transaction(conn, immediate=True):
        for model in sorted({*labels.models(conn), *versions.models(conn)}):
            if matches(pattern, f"{CONTEXT}.{model}") or matches(pattern, f"{LABELS}.{model}"):
                count = labels.erase(conn, model)
                examples.erase(conn, model)
                if versions.erase(conn, model, now=now) or count:
                    erased[model] = count
    return erased


async def _queue_erasure(hub: OwnerHub, pattern: str, local: list[str]) -> passport.Forgotten:
    up = hub.config.upstream
    return await hub.ledger(
        passport.queue_erasure,
        pattern,
        local,
        hub_id=hub.config.hub.id,
        prefix=up.topic_prefix if up else "hearth/v1",
        ttl_s=seconds(up.message_ttl) if up else 7 * 86400.0,
        cap=up.outbox_cap if up else 100_000,
        now=time.time(),
    )


@action("passport.verify")
async def verify(hub: OwnerHub) -> dict[str, Any]:
    """Problems in the ledger's audit chain (none when intact), and how many entries it has."""

    def check(conn: Any) -> dict[str, Any]:
        return {"problems": consent_ledger.verify_audit(conn), "entries": consent_ledger.audit_count(conn)}

    return await hub.ledger(check)


# -- BLE adoption ------------------------------------------------------------------------------------


@action("ble.adopt")
async def adopt(
    hub: OwnerHub, *, address: str, name: str, bindkey: str | None = None, rekey: bool = True
) -> dict[str, Any]:
    """Adopt the BLE device at ``address`` as ``name``; running BLE sources take it at once. Adopting it
    again under its name sets its key, unless ``rekey`` is false (the dashboard's form only adopts)."""
    key = parse_bindkey(bindkey) if bindkey is not None else None

    def adopt_it(store: ReadingsStore) -> Any:
        adoptions = AdoptionStore(store.conn)
        if not rekey:
            at = normalise_address(address)
            for existing in adoptions.all():
                if existing.address == at:
                    raise AdoptionError(
                        f"{at} is already adopted as {existing.name!r}",
                        hint="{see} first (that erases its readings)",
                        see=See("forget_device", existing.name),
                    )
        return adoptions.adopt(address, name, key)

    adoption = await hub.readings(adopt_it)
    await hub.adoptions_changed()
    return {"address": adoption.address, "name": adoption.name, "encrypted": key is not None}


@action("ble.forget")
async def forget_device(hub: OwnerHub, *, name: str) -> dict[str, Any]:
    """Forget adopted device ``name``: stop taking its adverts, then erase everything recorded of it and
    made from it (forecasts, anomalies, battery estimates), here and at every recipient that received it."""

    def adopted_strands(store: ReadingsStore) -> list[str]:
        # Checked before erasure requests are queued for it (the erase itself checks again).
        if all(a.name != name for a in AdoptionStore(store.conn).all()):
            raise AdoptionError(
                f"no adopted BLE device is named {name!r}",
                hint="{see} shows adopted devices",
                see=See("devices"),
            )
        return passport.device_streams(store, name)

    strands = await hub.readings(adopted_strands)
    requests: list[tuple[str, str]] = []
    pattern = f"{name}.*"
    received: set[tuple[str, str]] = await hub.ledger(passport.received_strands, pattern)
    if strands or received:
        requests = (await _queue_erasure(hub, pattern, strands)).requests
    hub.forgetting(strands)
    # The adoption and what was recorded go in one transaction; forget_device drops cached ids.
    erased = await hub.readings(lambda store: store.forget_device(name, first=AdoptionStore.remover(name)))
    await hub.adoptions_changed()
    # Adverts taken before the sources heard of it were still queued: commit them, then erase again.
    await hub.settle()
    erased += await hub.readings(ReadingsStore.forget_device, name)
    # What the hub made from them is recorded under other devices (``forecast``, ``anomaly``, ``battery``).
    erased += (await hub.readings(passport.erase_streams, strands))[0]
    return {"name": name, "erased": erased, "requests": requests}


@action("ble.list")
async def list_adopted(hub: OwnerHub) -> list[dict[str, Any]]:
    """Adopted BLE devices (never their bindkeys)."""
    adoptions = await hub.readings(lambda store: AdoptionStore(store.conn).all())
    return [
        {"name": a.name, "address": a.address, "encrypted": a.bindkey is not None, "adopted_at": a.adopted_at}
        for a in adoptions
    ]


# -- sync --------------------------------------------------------------------------------------------


@action("sync.status")
async def sync_status(hub: OwnerHub) -> dict[str, Any]:
    """The upstream link (live from a running hub, else as last recorded) and the outbox."""

    def read(conn: Any) -> dict[str, Any]:
        return {
            "state": outbox.read_state(conn),
            "depth": outbox.depth(conn),
            "acked": outbox.last_acked_seq(conn),
            "set_aside": outbox.set_aside_count(conn),
            "oldest": outbox.oldest_queued(conn),
        }

    status = await hub.ledger(read)
    live = hub.live_sync()
    status["live"] = live is not None
    status["running"] = hub.live_store() is not None  # a running hub without an upstream has no link
    if live is not None:
        status["state"] = live
    return status


@action("store.status")
async def store_status(hub: OwnerHub) -> dict[str, Any] | None:
    """The running recorder: readings committed, waiting and dropped, and why commits fail if they do."""
    return hub.live_store()


# -- dashboard ---------------------------------------------------------------------------------------


@action("web.password")
async def set_password(hub: OwnerHub, *, encoded: str) -> None:
    """Replace the dashboard's password hash (hashed by the command; the password never travels)."""
    from agent.web.auth import store_hash

    await hub.ledger(store_hash, encoded)


# -- fleet -------------------------------------------------------------------------------------------


@action("fleet.history")
async def fleet_history(hub: OwnerHub, *, limit: int) -> dict[str, Any]:
    """The newest fleet documents the hub received with their outcomes, and the version it runs."""
    from agent.fleet import history

    def read(conn: Any) -> dict[str, Any]:
        return {"running": history.running_version(conn), "rows": history.recent(conn, limit)}

    return await hub.ledger(read)


# -- intents -----------------------------------------------------------------------------------------


def _intent(intent: Any, *, now: float, offers: int) -> dict[str, Any]:
    from agent.intents.model import decode_intent

    return {
        "id": intent.id,
        "category": intent.category,
        "text": intent.text,
        "status": intent.status(now),
        "via": intent.via,
        "broker": intent.broker,
        "topic": intent.topic,
        "reply_topic": intent.reply_topic,
        "grants": intent.grants,
        "data": decode_intent(intent.payload).data,
        "bytes": len(intent.payload),
        "created_at": intent.created_at,
        "expires_at": intent.expires_at,
        "published_at": intent.published_at,
        "ended_at": intent.ended_at,
        "cleared_at": intent.cleared_at,
        "offers": offers,
        "dropped": intent.dropped,
    }


async def _exchange(hub: OwnerHub, intent_id: str, via: str) -> str | None:
    """One exchange with the intent's market; what went wrong, if something did (the ledger keeps all).

    Where the hub runs the intent service, the service makes the exchange (one round over every intent):
    a second connection with the intent's client id would take its session on the broker.
    """
    from agent.errors import IntentError
    from agent.intents.market import end_due, exchange, market_for

    service = hub.intents()
    if service is not None:
        await service.exchanged()
        return service.problems.get(intent_id)
    try:
        await end_due(hub.ledger)
        await exchange(market_for(hub.config, via), hub.ledger, intent_id)
    except IntentError as exc:
        return exc.message
    return None


async def _settle_intents(hub: OwnerHub) -> list[str]:
    """End the intents that are due (lifetime over, a grant ended) and clear them; the ids ended now."""
    from agent.intents import ledger as intents_ledger
    from agent.intents.market import end_due

    ended = await end_due(hub.ledger)
    service = hub.intents()
    if service is not None:
        if ended:
            await service.exchanged()
        return ended
    for intent in await hub.ledger(intents_ledger.intents):
        if intent.ended_at is not None and intent.cleared_at is None:
            await _exchange(hub, intent.id, intent.via)
    return ended


async def _intent_view(hub: OwnerHub, intent_id: str, problem: str | None) -> dict[str, Any]:
    from agent.intents import ledger as intents_ledger

    def read(conn: Any) -> dict[str, Any]:
        intent = intents_ledger.get_intent(conn, intent_id)
        return _intent(intent, now=time.time(), offers=intents_ledger.offer_count(conn, intent_id))

    view = await hub.ledger(read)
    view["problem"] = problem
    return view


@action("intent.create")
async def create_intent(
    hub: OwnerHub,
    *,
    category: str,
    text: str,
    lifetime_s: float,
    show: list[str] | None = None,
    windows: int = 24,
    via: str = "market",
) -> dict[str, Any]:
    """Record a new intent (what it shows passes the consent gate under market grants) and publish it."""
    from agent.intents import ledger as intents_ledger
    from agent.intents import model
    from agent.intents.market import market_for
    from agent.intents.shown import shown_data

    category = model.check_category(category)
    text = model.check_text(text, what="intent's text", limit=model.MAX_TEXT, allow_newlines=False)
    lifetime_s = model.check_lifetime(lifetime_s)
    config = hub.config
    market = market_for(config, via)
    now = time.time()
    expires_at = now + lifetime_s
    data: list[dict[str, Any]] = []
    used: list[str] = []
    charges: list[Any] = []
    if show:
        active = await hub.ledger(consent_ledger.active_grants, now=now)
        data, used, charges = await hub.readings(
            lambda store: shown_data(
                store.conn, active, strands=show, windows=windows, now=now, until=expires_at
            )
        )
    intent_id = model.new_id()
    message = model.IntentMessage(
        intent=intent_id,
        category=category,
        text=text,
        reply_to=model.reply_topic(market.prefix, intent_id),
        expires=int(expires_at // 60 * 60),
        data=data,
    )
    payload = model.encode_intent(message)
    model.check_unlinkable(payload.decode(), [config.hub.id, config.hub.name])
    intent = intents_ledger.Intent(
        id=intent_id,
        category=category,
        text=text,
        via=via,
        broker=market.broker,
        client_id=model.new_client_id(),
        topic=model.intent_topic(market.prefix, category, intent_id),
        reply_topic=message.reply_to,
        payload=payload,
        grants=used,
        created_at=now,
        expires_at=expires_at,
    )
    await hub.ledger(intents_ledger.add_intent, intent, data, charges, clock=HubClock.of(config))
    return await _intent_view(hub, intent_id, await _exchange(hub, intent_id, via))


@action("intent.list")
async def list_intents(hub: OwnerHub) -> list[dict[str, Any]]:
    """Every intent, newest first, with its status and how many offers came."""
    from agent.intents import ledger as intents_ledger

    def read(conn: Any) -> list[dict[str, Any]]:
        now = time.time()
        return [
            _intent(i, now=now, offers=intents_ledger.offer_count(conn, i.id))
            for i in intents_ledger.intents(conn)
        ]

    return await hub.ledger(read)


@action("intent.show")
async def show_intent(hub: OwnerHub, *, intent_id: str, fetch: bool = True) -> dict[str, Any]:
    """One intent and its inbox; first collects offers the market kept for it (unless ``fetch`` is off)."""
    from agent.intents import ledger as intents_ledger

    intent = await hub.ledger(intents_ledger.find_intent, intent_id)
    problem = None
    if fetch and intent.cleared_at is None:
        problem = await _exchange(hub, intent.id, intent.via)
    view = await _intent_view(hub, intent.id, problem)
    inbox = await hub.ledger(intents_ledger.inbox, intent.id)
    view["inbox"] = [
        {
            "number": item.number,
            "received_at": item.received_at,
            "offer": msgspec.to_builtins(item.offer),
            "answer": item.answer,
            "answered_at": item.answered_at,
            "answer_sent_at": item.answer_sent_at,
        }
        for item in inbox
    ]
    return view


@action("intent.withdraw")
async def withdraw_intent(hub: OwnerHub, *, intent_id: str) -> dict[str, Any]:
    """End an intent now and clear its retained message from the market."""
    from agent.intents import ledger as intents_ledger

    intent = await hub.ledger(intents_ledger.find_intent, intent_id)
    await hub.ledger(intents_ledger.end, intent.id, reason="withdrawn", now=time.time())
    return await _intent_view(hub, intent.id, await _exchange(hub, intent.id, intent.via))


@action("intent.answer")
async def answer_offer(hub: OwnerHub, *, intent_id: str, offer: int, text: str) -> dict[str, Any]:
    """Answer one offer with the owner's words (and nothing else), over the intent's own connection."""
    from agent.intents import ledger as intents_ledger
    from agent.intents import model

    text = model.check_text(text, what="answer", limit=model.MAX_ANSWER, allow_newlines=True)
    intent = await hub.ledger(intents_ledger.find_intent, intent_id)
    topic = await hub.ledger(intents_ledger.add_answer, intent.id, offer, text, now=time.time())
    view = await _intent_view(hub, intent.id, await _exchange(hub, intent.id, intent.via))
    view["answer_topic"] = topic
    return view


# -- learning ----------------------------------------------------------------------------------------


def _label(label: Any) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(label)
    out["class"] = out.pop("cls")
    return out


def _audit_label(kind: str) -> Callable[[sqlite3.Connection, Any], None]:
    """An audit entry for a label added or removed, written in the label's own transaction."""
    from agent.learning import strand

    def audit(conn: sqlite3.Connection, label: Any) -> None:
        detail = {
            "label": label.id,
            "stream": strand.name(label.model),
            "class": label.cls,
            "from": label.start_ts,
            "to": label.end_ts,
        }
        consent_ledger.append_audit(conn, [(time.time(), kind, detail)])

    return audit


@action("label.add")
async def add_label(hub: OwnerHub, *, model: str, start_ts: float, end_ts: float, cls: str) -> dict[str, Any]:
    """Store the owner's label on ``model``'s span (audited, and on its strand ``labels.<model>``), then
    adapt the model from every label it has."""
    from agent.learning import examples, labels, service, strand

    labels.check(model, start_ts, end_ts, cls, known_models=[m.name for m in hub.config.models])
    made = await hub.ledger(
        labels.add, model, start_ts, end_ts, cls, now=time.time(), also=_audit_label("label")
    )
    await hub.readings(strand.record, made)
    adaptation = await service.adapt_model(hub, model)
    await hub.model_changed(model)
    # The adaptation learns from every label: say how much of it came from this one (none, for a span
    # without readings: one in the future, or before the hub recorded the model's inputs).
    kept = (await hub.ledger(examples.of, [made.id])).get(made.id)
    windows = 0 if kept is None else len(kept.data)
    return {"label": _label(made), "windows": windows, "adaptation": adaptation}


@action("label.list")
async def list_labels(hub: OwnerHub, *, model: str | None = None) -> list[dict[str, Any]]:
    """The owner's labels in time order, of one model or all."""
    from agent.learning import labels

    listed = [_label(made) for made in await hub.ledger(labels.listed, model)]
    known = [m.name for m in hub.config.models]
    if model is not None and not listed and model not in known:
        # Labels of a model since taken out of the config are still listed; a typo is not "no labels".
        raise LearningError(f"no model {model!r} on this hub", hint=f"models: {', '.join(known) or 'none'}")
    return listed


@action("label.remove")
async def remove_label(hub: OwnerHub, *, label_id: int) -> dict[str, Any]:
    """Delete a label (audited, and from its strand), then adapt its model afresh from the labels left (as
    shipped if none are)."""
    from agent.learning import examples, labels, service, strand, versions

    removed = await hub.ledger(labels.remove, label_id, also=_audit_label("label remove"))
    await hub.ledger(examples.remove, label_id)
    await hub.readings(strand.unrecord, removed)
    left = await hub.ledger(labels.listed, removed.model)
    if left and removed.model in {m.name for m in hub.config.models}:
        adaptation = await service.adapt_model(hub, removed.model, from_shipped=True)
    else:
        before = await hub.ledger(versions.reset, removed.model, now=time.time())
        adaptation = {"model": removed.model, "adapted": False, "version": None, "reason": "no labels left"}
        adaptation |= {"running": versions.SHIPPED, "was_running": before}
    await hub.model_changed(removed.model)
    return {"label": _label(removed), "adaptation": adaptation}


@action("model.versions")
async def model_versions(hub: OwnerHub, *, model: str) -> dict[str, Any]:
    """Every adaptation attempt of ``model`` with its card, and the version it runs (0: as shipped)."""
    from agent.learning import service, versions

    service.model_entry(hub, model)
    running, _, _ = await hub.ledger(versions.running, model)
    history = await hub.ledger(versions.history, model)
    return {
        "model": model,
        "running": running,
        "versions": [
            {"version": v.version, "created_at": v.created_at, "kept": v.kept, "card": v.card}
            for v in history
        ],
    }


@action("model.reset")
async def reset_model(hub: OwnerHub, *, model: str) -> dict[str, Any]:
    """Run ``model`` as shipped again (its labels and adaptation history stay)."""
    from agent.learning import service, versions

    service.model_entry(hub, model)
    before = await hub.ledger(versions.reset, model, now=time.time())
    await hub.model_changed(model)
    return {"model": model, "was_running": before, "running": versions.SHIPPED}
