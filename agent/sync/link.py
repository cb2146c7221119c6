"""The seam between the publisher and a broker connection, and an in-process fake behind it.

A ``Link`` sends one QoS 1 message at a time in call order and returns a future that resolves to
``None`` on PUBACK, to a reason string when the broker refused the message, or fails with
``LinkDownError`` when the connection is lost before the PUBACK. Every pending future resolves when the
link goes down.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

from agent.errors import UpstreamError


class LinkDownError(UpstreamError):
    """The broker connection was lost (or could not be made)."""


class Link(Protocol):
    """One live broker connection."""

    max_packet_size: int | None
    receive_maximum: int | None
    lost: asyncio.Event

    def send(self, topic: str, payload: bytes) -> asyncio.Future[str | None]:
        """Publish at QoS 1 now; the future resolves on PUBACK (None) or refusal (reason)."""
        ...


class Connector(Protocol):
    """Makes links; ``connect()`` raises ``UpstreamError`` when the broker cannot be reached."""

    def connect(self) -> AbstractAsyncContextManager[Link]:
        """Connect (announcing the hub online) and disconnect (announcing it offline) around a block."""
        ...


@dataclass
class FakeBroker:
    """An in-process broker: records what it received, can go down, hold PUBACKs, refuse topics."""

    up: bool = True
    received: list[tuple[str, bytes]] = field(default_factory=list)
    retained: dict[str, bytes] = field(default_factory=dict)
    refuse_topics: set[str] = field(default_factory=set)
    max_packet_size: int | None = None
    hold_acks: bool = False
    links: list[FakeLink] = field(default_factory=list)

    def go_down(self) -> None:
        """Drop every connection (pending publishes fail with LinkDownError)."""
        self.up = False
        for link in list(self.links):
            link.drop()

    def come_up(self) -> None:
        """Accept connections again."""
        self.up = True

    def release_acks(self) -> None:
        """Acknowledge everything held back while ``hold_acks`` was set."""
        self.hold_acks = False
        for link in self.links:
            link.release()


class FakeLink:
    """A link to a ``FakeBroker``: it receives at once; PUBACKs wait while the broker holds them."""

    def __init__(self, broker: FakeBroker) -> None:
        self.broker = broker
        self.max_packet_size = broker.max_packet_size
        self.receive_maximum: int | None = None
        self.lost = asyncio.Event()
        self._held: list[asyncio.Future[str | None]] = []

    def send(self, topic: str, payload: bytes) -> asyncio.Future[str | None]:
        fut: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        if self.lost.is_set():
            fut.set_exception(LinkDownError("not connected"))
        elif topic in self.broker.refuse_topics:
            fut.set_result("Not authorized")
        else:
            self.broker.received.append((topic, payload))
            if self.broker.hold_acks:
                self._held.append(fut)
            else:
                fut.set_result(None)
        return fut

    def release(self) -> None:
        held, self._held = self._held, []
        for fut in held:
            if not fut.done():
                fut.set_result(None)

    def drop(self) -> None:
        # The broker got these; only their PUBACKs are lost, so the hub sends them again (QoS 1).
        self.lost.set()
        held, self._held = self._held, []
        for fut in held:
            if not fut.done():
                fut.set_exception(LinkDownError("connection lost"))


class FakeConnector:
    """Connects to a ``FakeBroker`` and maintains its retained status topic like the MQTT connector."""

    def __init__(self, broker: FakeBroker, status_topic: str) -> None:
        self.broker = broker
        self.status_topic = status_topic

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[Link]:
        if not self.broker.up:
            raise LinkDownError("connection refused")
        link = FakeLink(self.broker)
        self.broker.links.append(link)
        self.broker.retained[self.status_topic] = b"online"
        try:
            yield link
        finally:
            self.broker.links.remove(link)
            link.drop()
            self.broker.retained[self.status_topic] = b"offline"

    def connect(self) -> AbstractAsyncContextManager[Link]:
        return self._session()
