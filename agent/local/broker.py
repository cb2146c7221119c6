"""The connection to the broker inside the home (Home Assistant's), kept up by ``agent.reconnect``.

The hub's availability topic carries ``online`` (retained) while connected and ``offline`` as the
last will, so Home Assistant greys out every entity when the hub goes away. Publishes while the
broker is away are dropped and counted, not queued: local actions are about the present moment.
Whoever needs to (re)send state on every connection registers an ``on_connect`` coroutine.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import aiomqtt

from agent.aio import cancel_requested
from agent.backoff import Backoff
from agent.config.schema import LocalMqttConfig
from agent.connection import connection, port_of
from agent.mqtt_requests import UNBOUNDED, farewell, reply
from agent.reconnect import ReconnectLogic

log = logging.getLogger(__name__)

MessageHandler = Callable[[str, bytes], Awaitable[None]]
ONLINE = "online"
OFFLINE = "offline"


class LocalBroker:
    """A reconnecting client of the local broker; ``run()`` until cancelled."""

    def __init__(self, config: LocalMqttConfig, hub_id: str, *, backoff: Backoff | None = None) -> None:
        self.config = config
        self.hub_id = hub_id
        self.base_topic = (config.base_topic or f"hearth/{hub_id}").rstrip("/")
        self.availability_topic = f"{self.base_topic}/status"
        self.client_id = config.client_id or f"hearth-{hub_id}"
        self.backoff = backoff or Backoff(base=1.0, cap=30.0)
        where = f"{config.host}:{port_of(config)}"
        self.reconnect = ReconnectLogic(f"local broker {where}", self.backoff, logger=log)
        self.on_connect: list[Callable[[], Awaitable[None]]] = []
        self.handlers: dict[str, MessageHandler] = {}
        self.connected = asyncio.Event()
        self.published = 0
        self.dropped = 0
        self.connections = 0
        self._client: aiomqtt.Client | None = None

    @property
    def is_connected(self) -> bool:
        """True while a connection is up (also while ``on_connect`` hooks run)."""
        return self._client is not None

    def subscribe(self, topic: str, handler: MessageHandler) -> None:
        """Route messages on ``topic`` (a filter without wildcards, or ending in '#') to ``handler``."""
        self.handlers[topic] = handler

    async def publish(self, topic: str, payload: str | bytes, *, qos: int = 0, retain: bool = False) -> bool:
        """Publish now if connected; return False (counted as dropped) if the broker is away."""
        client = self._client
        if client is None:
            self.dropped += 1
            return False
        try:
            await reply(client.publish(topic, payload, qos=qos, retain=retain, timeout=UNBOUNDED))
        except aiomqtt.MqttError as exc:
            if cancel_requested():  # a stop interrupted the publish: not a drop to count and go on
                raise asyncio.CancelledError from exc
            self.dropped += 1
            return False
        self.published += 1
        return True

    async def run(self) -> None:
        """Stay connected until cancelled; on cancellation say ``offline`` and disconnect cleanly."""
        reach = connection(self.config, "local_mqtt")

        async def session() -> None:
            client = aiomqtt.Client(
                **reach.client_args(),
                identifier=self.client_id,
                will=aiomqtt.Will(self.availability_topic, OFFLINE, qos=1, retain=True),
                keepalive=30,
                timeout=10,
            )
            try:
                async with client:
                    await self._serve(client)
            finally:
                self._client = None
                self.connected.clear()

        await self.reconnect.run(session, outages=(aiomqtt.MqttError,))

    async def _serve(self, client: aiomqtt.Client) -> None:
        try:
            for topic in self.handlers:
                await reply(client.subscribe(topic, qos=1, timeout=UNBOUNDED))
            await reply(
                client.publish(self.availability_topic, ONLINE, qos=1, retain=True, timeout=UNBOUNDED)
            )
            self._client = client
            self.connections += 1
            self.reconnect.connected()
            for hook in self.on_connect:
                await hook()
            self.connected.set()
            async for message in client.messages:
                await self._handle(str(message.topic), message.payload)
        except asyncio.CancelledError:
            self._client = None
            await farewell(client, self.availability_topic, OFFLINE)
            raise

    async def _handle(self, topic: str, payload: object) -> None:
        data = payload if isinstance(payload, bytes) else str(payload or "").encode()
        for pattern, handler in self.handlers.items():
            if aiomqtt.Topic(topic).matches(pattern):
                try:
                    await handler(topic, data)
                except Exception:
                    log.exception("handling a local message on %s failed", topic)
