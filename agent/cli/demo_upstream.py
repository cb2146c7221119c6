"""The upstream half of ``hearth demo``: the example grant, a subscriber standing in for the
recipient, and the side-by-side view of what was collected and what left the home."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt

from agent.config import Config


def give_demo_grant(config: Config) -> str:
    """Give the demo's example grant (as the owner would with ``hearth consent grant``); return its id."""
    from agent.consent.destination import hub_receipt
    from agent.consent.grants import new_grant
    from agent.consent.ledger import add_grant
    from agent.demo import DEMO_GRANT
    from agent.store.ledger import open_ledger

    ledger = open_ledger(Path(config.hub.data_dir))
    try:
        grant = new_grant(now=time.time(), **DEMO_GRANT)  # type: ignore[arg-type]
        add_grant(ledger, grant, hub_receipt(grant, config))
    finally:
        ledger.close()
    return f"{grant.id}: {grant.granularity} of {', '.join(grant.strands)} for {grant.recipient}"


@dataclass
class Upstream:
    """Everything a subscriber on ``#`` at the demo broker saw."""

    messages: list[tuple[str, bytes]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def settle(self, quiet: float = 0.5, limit: float = 5.0) -> None:
        """Wait until no message arrived for ``quiet`` seconds (the hub's offline status comes last)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(limit):
                while True:
                    self.changed.clear()
                    try:
                        await asyncio.wait_for(self.changed.wait(), quiet)
                    except TimeoutError:
                        return


@contextlib.asynccontextmanager
async def watch_upstream(port: int, protocol: str) -> AsyncIterator[Upstream]:
    """Subscribe to everything on the demo broker for the duration of the block."""
    seen = Upstream()
    version = aiomqtt.ProtocolVersion.V311 if protocol == "3.1.1" else aiomqtt.ProtocolVersion.V5
    ready = asyncio.Event()

    async def listen() -> None:
        async with aiomqtt.Client("127.0.0.1", port, identifier="demo-recipient", protocol=version) as client:
            await client.subscribe("#", qos=1)
            ready.set()
            async for message in client.messages:
                payload = message.payload if isinstance(message.payload, bytes) else b""
                seen.messages.append((str(message.topic), payload))
                seen.changed.set()

    task = asyncio.create_task(listen(), name="demo-recipient")
    await asyncio.wait_for(ready.wait(), 10)
    try:
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
            await task


def show_side_by_side(config: Config, upstream: Upstream) -> None:
    """Print what the hub collected next to what left the home."""
    from rich.columns import Columns
    from rich.console import Console
    from rich.table import Table

    from agent.store import queries
    from agent.store.readings import open_readings

    store = open_readings(Path(config.hub.data_dir), read_only=True)
    try:
        kept = [(name, count, count * 24) for name, count in queries.reading_counts(store.conn)]
    finally:
        store.close()
    home = Table(title="Collected, kept in the home")
    for column in ("stream", "readings", "≈ bytes"):
        home.add_column(column)
    for name, count, size in kept:
        home.add_row(name, str(count), str(size))
    left = Table(title="Left the home (seen at the broker)")
    for column in ("topic", "payload"):
        left.add_column(column, overflow="fold")
    sent = 0
    for topic, payload in upstream.messages:
        sent += len(topic) + len(payload)
        text = payload.decode("utf-8", "replace")
        with contextlib.suppress(ValueError):
            body = json.loads(payload)
            text = (
                f"seq {body['seq']}: {body['stream']} {body['count']} readings,"
                f" mean {body['mean']} min {body['min']} max {body['max']} {body['unit']}"
            )
        left.add_row(topic.removeprefix(f"hearth/v1/{config.hub.id}/"), text)
    console = Console()
    console.print(Columns([home, left]))
    total = sum(count for _, count, _ in kept)
    data = sum(1 for topic, _ in upstream.messages if not topic.endswith("/status"))
    status = len(upstream.messages) - data
    console.print(
        f"{total} readings stayed in the home; {data} data messages left it, each under the example grant"
        f" (hearth consent list, hearth passport verify), and {status} status messages (online/offline);"
        f" {sent} bytes in all."
    )
