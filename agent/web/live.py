"""Live values for browsers: the recorder's readings, coalesced per stream, fanned out to bounded queues.

The recorder hands every batch to ``LiveFeed.on_readings`` (a cheap dict update, and nothing at all
while no browser listens). Once per ``interval`` the feed turns the newest reading of each stream
that changed into one server-sent event per interested client, so a stream reaches a browser at most
once per interval however fast it is sampled. Each client's queue is bounded and drops its oldest
event when full, so a slow browser costs a fixed amount of memory and loses only stale values.

Other layers publish their own events by topic (``publish("discovery", data, key=address)``); they
are coalesced per (topic, key) the same way and reach the clients that asked for the topic. The hub's
figures are the topic ``stats``, sampled at every tick.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections import deque
from collections.abc import Callable, Collection, Sequence
from typing import Any

from agent.readings import Reading


def sse(event: str, data: object) -> str:
    """One server-sent event with a JSON payload."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


class Client:
    """One browser's event stream: a bounded queue that drops its oldest event when full."""

    def __init__(self, streams: Collection[str] | None, *, topics: Collection[str], maxlen: int) -> None:
        self.streams = frozenset(streams) if streams is not None else None
        self.topics = frozenset(topics)
        self.dropped = 0
        self.closed = False
        self._queue: deque[str] = deque(maxlen=maxlen)
        self._ready = asyncio.Event()

    def wants(self, stream: str) -> bool:
        """True if this client asked for ``stream`` (or for every stream)."""
        return self.streams is None or stream in self.streams

    def push(self, event: str) -> None:
        """Queue ``event``; when the queue is full the oldest event is dropped and counted."""
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(event)
        self._ready.set()

    def close(self) -> None:
        """Wake the client's writer so it can finish."""
        self.closed = True
        self._ready.set()

    async def wait(self, within: float) -> None:
        """Wait until events are queued or the client is closed, at most ``within`` seconds."""
        if self._queue or self.closed:
            return
        try:
            async with asyncio.timeout(within):
                await self._ready.wait()
        except TimeoutError:
            return
        finally:
            self._ready.clear()

    def take(self) -> list[str]:
        """Every queued event, oldest first."""
        taken = list(self._queue)
        self._queue.clear()
        return taken

    def __len__(self) -> int:
        return len(self._queue)


class LiveFeed:
    """The newest reading per stream, broadcast to subscribed clients once per ``interval``."""

    def __init__(
        self,
        *,
        interval: float,
        queue_size: int = 256,
        stats: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.interval = interval
        self.queue_size = queue_size
        self.stats = stats
        self.clients: set[Client] = set()
        self._fresh: dict[str, Reading] = {}
        self._published: dict[tuple[str, str], object] = {}

    def on_readings(self, batch: Sequence[Reading]) -> None:
        """Recorder listener: remember the newest reading of each stream in ``batch``."""
        if not self.clients:
            return
        fresh = self._fresh
        for reading in batch:
            fresh[reading[0]] = reading

    def subscribe(self, streams: Collection[str] | None = None, *, topics: Collection[str] = ()) -> Client:
        """A new client for ``streams`` (None: every stream) and the published ``topics``."""
        client = Client(streams, topics=topics, maxlen=self.queue_size)
        self.clients.add(client)
        if "stats" in client.topics and self.stats is not None:
            client.push(sse("stats", self.stats()))
        return client

    def publish(self, topic: str, data: object, *, key: str = "") -> None:
        """Send ``data`` as a ``topic`` event at the next tick; a newer one with the same key replaces it."""
        if self.clients:
            self._published[(topic, key)] = data

    def unsubscribe(self, client: Client) -> None:
        """Forget ``client`` (safe to call twice)."""
        self.clients.discard(client)

    def tick(self) -> None:
        """Send every client the streams that changed since the last tick, its topics, and the hub stats."""
        fresh, self._fresh = self._fresh, {}
        published, self._published = self._published, {}
        if not self.clients:
            return
        events = {name: sse("reading", _payload(r)) for name, r in fresh.items()}
        topics = [(topic, sse(topic, data)) for (topic, _), data in published.items()]
        if self.stats is not None and any("stats" in c.topics for c in self.clients):
            topics.append(("stats", sse("stats", self.stats())))
        for client in self.clients:
            for name, event in events.items():
                if client.wants(name):
                    client.push(event)
            for topic, event in topics:
                if topic in client.topics:
                    client.push(event)

    async def run(self) -> None:
        """Tick every ``interval`` until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            self.tick()

    def close(self) -> None:
        """Wake and forget every client (at shutdown)."""
        for client in self.clients:
            client.close()
        self.clients.clear()


def _payload(reading: Reading) -> dict[str, Any]:
    value = reading[2] if math.isfinite(reading[2]) else None
    return {"s": reading[0], "t": round(reading[1], 3), "v": value, "l": reading[3]}
