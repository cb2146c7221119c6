"""Moving an intent's bytes between the ledger and the market broker, over a connection of its own.

Each intent has its own MQTT 5 connection: a random client id made for it alone, no will, no username
unless ``[market]`` sets one, and a persistent session that lasts as long as the intent, so the broker
keeps offers (QoS 1) while the hub is not connected. One ``exchange`` connects, publishes the intent
retained with a message expiry of its remaining lifetime (once), sends the owner's pending answers,
collects the offers queued for it up to a barrier (and any that reach it before the broker sees it go),
and disconnects. An intent that ended is cleared (an empty retained message) over a clean session that
ends with the connection.

``IntentService`` runs exchanges for every intent every ``check_every``: a hub feature owns it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent.config import Config, seconds
from agent.config.schema import BrokerConfig, MarketConfig
from agent.connection import connection, port_of
from agent.consent import ledger as consent_ledger
from agent.errors import ConfigError, IntentError
from agent.intents import ledger as intents_ledger
from agent.intents.inbox import Limits
from agent.mqtt_requests import UNBOUNDED, reply
from agent.store.sqlite import Refusals

log = logging.getLogger(__name__)

# Messages the client holds before they are read; the exchange reads as they come.
_QUEUE = 1000
_DEFAULTS = MarketConfig(host="-")


class LedgerCall(Protocol):
    """Runs a function on the ledger's writer (``OwnerHub.ledger``)."""

    def __call__(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Awaitable[Any]: ...


@dataclass(frozen=True)
class Market:
    """Where intents go and the caps on what comes back. The password never appears in ``repr``."""

    via: str  # market | upstream
    host: str
    port: int
    prefix: str
    limits: Limits
    check_every_s: float
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls_context: Any = field(default=None, repr=False)
    timeout_s: float = 10.0

    @property
    def broker(self) -> str:
        """``mqtts://host:port`` (or ``mqtt://``), for the owner's eyes and the audit log."""
        return f"{'mqtts' if self.tls_context is not None else 'mqtt'}://{self.host}:{self.port}"

    @property
    def max_packet(self) -> int:
        """The largest packet the client accepts (the broker drops larger ones unseen and uncounted)."""
        return max(16384, 4 * self.limits.max_size)


def market_for(config: Config, via: str) -> Market:
    """The market ``via`` names (``market``: the ``[market]`` section; ``upstream``: that broker)."""
    section: BrokerConfig
    if via == "market":
        if config.market is None:
            raise IntentError(
                "no [market] broker is configured",
                hint="add a [market] section (see config/hearth.toml), or publish on upstream",
                field="via",
                example="upstream",
            )
        section = config.market
    elif via == "upstream":
        if config.upstream is None:
            raise IntentError("no [upstream] broker is configured", field="via", example="market")
        section = config.upstream
    else:
        raise IntentError(f"unknown destination {via!r}", hint="market or upstream", field="via")
    if section.protocol == "3.1.1":
        raise IntentError(
            f"intents need MQTT 5 (message expiry), and [{via}] speaks 3.1.1",
            hint=f'set {via}.protocol = "auto" or "5"',
        )
    caps = config.market or _DEFAULTS
    try:
        conn = connection(section, via)
    except ConfigError as exc:
        raise IntentError(exc.message, hint=exc.hint) from exc
    return Market(
        via=via,
        host=section.host,
        port=port_of(section),
        prefix=caps.topic_prefix,
        limits=Limits(
            max_size=caps.offer_max_size,
            per_period=caps.offers_per_period,
            period_s=seconds(caps.offer_period),
            inbox_cap=caps.inbox_cap,
        ),
        check_every_s=seconds(caps.check_every),
        username=conn.username,
        password=conn.password,
        tls_context=conn.tls_context,
    )


class Exchanged(NamedTuple):
    """What one exchange did."""

    published: bool = False
    answers: int = 0
    offers: dict[str, int] = {}  # noqa: RUF012 - a NamedTuple default, never mutated
    cleared: bool = False


@contextlib.asynccontextmanager
async def _connected(market: Market, client_id: str, *, session_s: int) -> AsyncIterator[aiomqtt.Client]:
    """A connection that says nothing about the hub: the intent's client id, no will, MQTT 5 only."""
    connect = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    connect.SessionExpiryInterval = session_s
    connect.MaximumPacketSize = market.max_packet
    client = aiomqtt.Client(
        market.host,
        market.port,
        identifier=client_id,
        username=market.username,
        password=market.password,
        tls_context=market.tls_context,
        protocol=aiomqtt.ProtocolVersion.V5,
        clean_start=session_s == 0,
        properties=connect,
        will=None,
        timeout=market.timeout_s,
        max_queued_incoming_messages=_QUEUE,
        logger=logging.getLogger("agent.intents.paho"),
    )
    try:
        async with client:
            yield client
    except aiomqtt.MqttError as exc:
        raise IntentError(
            f"the market broker {market.broker} cannot be reached: {exc}",
            hint="the intent stays in the ledger; the next exchange tries again",
        ) from exc


async def exchange(
    market: Market, ledger: LedgerCall, intent_id: str, held: list[bytes] | None = None
) -> Exchanged:
    """One round with the broker for ``intent_id``: publish, answer, collect offers; or clear it.

    Offers collected go into ``held`` (the caller's, when given) until the ledger has them: if it refuses
    them (a full disk), the broker counts them delivered, so the caller keeps them for the next round.
    """
    held = [] if held is None else held
    intent: intents_ledger.Intent = await ledger(intents_ledger.get_intent, intent_id)
    if intent.cleared_at is not None:
        return Exchanged()
    now = time.time()
    if intent.ended_at is not None or now >= intent.expires_at:
        if intent.ended_at is None:
            await ledger(intents_ledger.end, intent_id, reason="expired", now=now)
        async with _connected(market, intent.client_id, session_s=0) as client:
            await reply(client.publish(intent.topic, b"", qos=1, retain=True, timeout=UNBOUNDED))
        await ledger(intents_ledger.mark_cleared, intent_id, now=time.time())
        return Exchanged(cleared=True)
    remaining = max(1, int(intent.expires_at - now))
    published = False
    sent = 0
    async with _connected(market, intent.client_id, session_s=remaining) as client:
        barrier_topic = f"{market.prefix}/ping/{secrets.token_hex(12)}"
        barrier = secrets.token_bytes(16)
        collected: list[bytes] = []
        reader = asyncio.create_task(_collect(client, intent.reply_topic, barrier_topic, barrier, collected))
        try:
            await reply(client.subscribe(intent.reply_topic, qos=1, timeout=UNBOUNDED))
            if intent.published_at is None:
                props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
                props.MessageExpiryInterval = remaining
                await reply(
                    client.publish(
                        intent.topic, intent.payload, qos=1, retain=True, properties=props, timeout=UNBOUNDED
                    )
                )
                await ledger(intents_ledger.mark_published, intent_id, now=time.time())
                published = True
            for number, topic, payload in await ledger(intents_ledger.pending_answers, intent_id):
                await reply(client.publish(topic, payload, qos=1, timeout=UNBOUNDED))
                await ledger(intents_ledger.mark_answer_sent, intent_id, number, now=time.time())
                sent += 1
            # Offers the broker kept for this session arrive before anything published after them.
            await reply(client.subscribe(barrier_topic, qos=1, timeout=UNBOUNDED))
            await reply(client.publish(barrier_topic, barrier, qos=1, timeout=UNBOUNDED))
            async with asyncio.timeout(market.timeout_s):
                await asyncio.shield(reader)
            await reply(client.unsubscribe(barrier_topic, timeout=UNBOUNDED))
        except TimeoutError as exc:
            raise IntentError(f"the market broker {market.broker} did not answer in time") from exc
        except aiomqtt.MqttError as exc:
            raise IntentError(f"lost the market broker {market.broker}: {exc}") from exc
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
    # An offer that reached the client after the barrier, before the broker saw the disconnect, was
    # acknowledged all the same: the broker will not send it again, so it is taken here, not dropped.
    collected += _unread(client, intent.reply_topic)
    held += collected
    counts = await ledger(
        intents_ledger.record_offers,
        intent_id,
        list(held),
        prefix=market.prefix,
        limits=market.limits,
        now=time.time(),
    )
    held.clear()
    return Exchanged(published=published, answers=sent, offers=counts)


async def _collect(
    client: aiomqtt.Client, reply_topic: str, barrier_topic: str, barrier: bytes, into: list[bytes]
) -> None:
    async for message in client.messages:
        topic = message.topic.value
        payload = message.payload if isinstance(message.payload, bytes) else b""
        if topic == barrier_topic and payload == barrier:
            return
        if topic == reply_topic:
            into.append(payload)


def _unread(client: aiomqtt.Client, reply_topic: str) -> list[bytes]:
    """Payloads on ``reply_topic`` that the client received, and so acknowledged, but nobody read."""
    # aiomqtt (2.x, as pinned) has no public way to read its queue once the connection is closed; if a
    # release renames it, offers in this gap are lost as before rather than the exchange failing.
    queue = getattr(client, "_queue", None)
    unread: list[bytes] = []
    if queue is None:
        return unread
    while not queue.empty():
        message = queue.get_nowait()
        if message.topic.value == reply_topic:
            unread.append(message.payload if isinstance(message.payload, bytes) else b"")
    return unread


async def end_due(ledger: LedgerCall) -> list[str]:
    """End intents whose lifetime is over or whose grants ended (revoked, expired); their ids."""

    def due(conn: Any) -> list[str]:
        now = time.time()
        active = {g.id for g in consent_ledger.active_grants(conn, now=now)}
        return intents_ledger.end_due(conn, now=now, active_grants=active)

    ended: list[str] = await ledger(due)
    return ended


class IntentService:
    """Keeps every intent in step with the market: publish, collect offers, send answers, clear ended ones.

    A hub feature owns it: ``run()`` until ``close()``; ``wake()`` makes it look now (after an owner action),
    and ``exchanged()`` waits for that look. While it runs, it is the only one to connect for an intent:
    two connections with the same client id would take the broker's session from each other.
    """

    def __init__(self, config: Config, ledger: LedgerCall) -> None:
        self._config = config
        self._ledger = ledger
        self._wake = asyncio.Event()
        self._round_end = asyncio.Event()
        self._closed = False
        self._stopped = False  # run() has returned (or was cancelled)
        self._failing: set[str] = set()
        self._data_dir = Path(config.hub.data_dir)
        self._refusals = Refusals(self._data_dir, "the ledger is busy")
        # Offers the broker delivered that the ledger could not take yet, by intent.
        self._held: dict[str, list[bytes]] = {}
        # What went wrong in the latest exchange of each intent that failed (gone once one succeeds).
        self.problems: dict[str, str] = {}
        self.begun = 0
        self.rounds = 0

    def wake(self) -> None:
        """Look at the intents now rather than at the next tick."""
        self._wake.set()

    def close(self) -> None:
        """Stop ``run`` after the exchange in progress; safe to call twice."""
        self._closed = True
        self._wake.set()
        self._round_end.set()

    async def exchanged(self) -> None:
        """Wake the service and wait for a round that began after this call (or for ``run`` to end)."""
        target = self.begun + 1
        self.wake()
        while not self._stopped and not self._closed and self.rounds < target:
            await self._round_end.wait()

    async def run(self) -> None:
        """Exchange for every intent that is not cleared, every ``check_every``, until closed."""
        try:
            while not self._closed:
                # Cleared before the round: a wake that comes during it makes the next one start at once.
                self._wake.clear()
                every = await self.step()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(every):
                        await self._wake.wait()
        finally:
            self._stopped = True
            self._round_end.set()

    async def step(self) -> float:
        """One round over every intent; how long to wait before the next one."""
        self.begun += 1
        try:
            return await self._round()
        finally:
            self.rounds += 1
            ended, self._round_end = self._round_end, asyncio.Event()
            ended.set()

    async def _round(self) -> float:
        every = seconds((self._config.market or _DEFAULTS).check_every)
        try:
            await end_due(self._ledger)
        except sqlite3.OperationalError as exc:
            self._refused(exc)
            return every
        for intent in await self._ledger(intents_ledger.intents):
            if intent.cleared_at is not None:
                continue
            held = self._held.setdefault(intent.id, [])
            try:
                market = market_for(self._config, intent.via)
                every = min(every, market.check_every_s, max(1.0, intent.expires_at - time.time()))
                await exchange(market, self._ledger, intent.id, held)
            except sqlite3.OperationalError as exc:
                # A full or read-only disk: what the ledger could not take is tried again next round, and
                # the offers the broker delivered meanwhile are held until then.
                self.problems[intent.id] = self._refused(exc)
                continue
            except IntentError as exc:
                self.problems[intent.id] = exc.message
                if intent.id not in self._failing:
                    log.warning("intent %s: %s", intent.id, exc.message)
                    self._failing.add(intent.id)
                continue
            self._held.pop(intent.id, None)
            self.problems.pop(intent.id, None)
            if self._refusals.cleared():
                log.warning("intents: the ledger takes their changes again")
            if intent.id in self._failing:
                log.info("intent %s: the market is reachable again", intent.id)
                self._failing.discard(intent.id)
        return every

    def _refused(self, exc: sqlite3.OperationalError) -> str:
        """Say once why the ledger refuses the service's writes; the reason."""
        problem, new = self._refusals.refused(exc)
        if new:
            held = sum(map(len, self._held.values()))
            log.error(
                "intents: changes and offers not stored: %s; %d offers held until it can write", problem, held
            )
        return problem
