"""Outages mid-drain: the broker restarts, the agent is killed; every summary still arrives, in order."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from agent.consent import outbox
from agent.consent.gate import Admitted
from agent.store.sqlite import transaction
from agent.sync.link import Connector, Link, LinkDownError

from .conftest import HUB, PREFIX, T0, Broker, Hub, Seen, run_publisher, stop_publisher


class HeldLink:
    """Wraps a real link; while held, publishes wait in the hub (as if the window were full)."""

    def __init__(self, inner: Link, gate: GatedConnector) -> None:
        self.inner = inner
        self.gate = gate
        self.max_packet_size = inner.max_packet_size
        self.receive_maximum = inner.receive_maximum
        self.lost = inner.lost
        self.waiting: list[tuple[str, bytes, asyncio.Future[str | None]]] = []
        self.unanswered = 0  # forwarded to the broker, PUBACK not yet back

    def send(self, topic: str, payload: bytes) -> asyncio.Future[str | None]:
        fut: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        if self.gate.held:
            self.waiting.append((topic, payload, fut))
        else:
            self._forward(topic, payload, fut)
        return fut

    def _forward(self, topic: str, payload: bytes, fut: asyncio.Future[str | None]) -> None:
        seq = json.loads(payload)["seq"]

        def relay(inner: asyncio.Future[str | None]) -> None:
            self.unanswered -= 1
            if inner.exception() is not None:
                fut.set_exception(inner.exception())  # type: ignore[arg-type]
                return
            if inner.result() is None:
                self.gate.acked.add(seq)
            fut.set_result(inner.result())

        self.unanswered += 1
        self.inner.send(topic, payload).add_done_callback(relay)

    def fail_waiting(self) -> None:
        self.gate.failed += len(self.waiting)
        for _, _, fut in self.waiting:
            fut.set_exception(LinkDownError("broker stopped"))
        self.waiting.clear()


class GatedConnector:
    """Lets the test hold publishes and reconnection around a broker restart."""

    def __init__(self, inner: Connector) -> None:
        self.inner = inner
        self.open = asyncio.Event()
        self.open.set()
        self.held = False
        self.acked: set[int] = set()
        self.failed = 0
        self.links: list[HeldLink] = []

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[Link]:
        await self.open.wait()
        async with self.inner.connect() as link:
            held = HeldLink(link, self)
            self.links.append(held)
            # A real link fails its unanswered publishes when the connection drops; so do the held ones.
            lost = asyncio.create_task(link.lost.wait())
            lost.add_done_callback(lambda _: held.fail_waiting())
            try:
                yield held
            finally:
                lost.cancel()
                held.fail_waiting()

    def connect(self) -> AbstractAsyncContextManager[Link]:
        return self._session()


def delivered_in_order(seqs: list[int], expected: int) -> tuple[list[int], int]:
    """First deliveries in arrival order, and how many deliveries were duplicates."""
    first: list[int] = []
    seen: set[int] = set()
    for s in seqs:
        if s not in seen:
            seen.add(s)
            first.append(s)
    assert len(first) == expected
    return first, len(seqs) - len(first)


def fill(hub: Hub, windows: int, now: float) -> None:
    """Queue ``windows`` one-second summaries per stream of two streams (summarised from readings)."""
    start = now - windows - 10
    for stream in ("living_room.temperature", "living_room.humidity"):
        hub.record(stream, [(start + i + 0.5, 20.0 + i % 7) for i in range(windows)])
    hub.grant("coop", ["living_room.*"], "summary:1s", now=start)
    while hub.summariser.step(now).queued:
        pass


async def test_broker_restarted_mid_drain(hub: Hub, broker: Broker, subscriber: Seen) -> None:
    fill(hub, 1500, T0 + 2000)
    total = outbox.depth(hub.ledger)
    assert total == 3000
    publisher = hub.publisher(broker.port, max_inflight=16, clock=lambda: T0 + 2000)
    gate = GatedConnector(publisher.connector)
    publisher.connector = gate
    task = await run_publisher(publisher)
    try:
        await subscriber.until(lambda: len(subscriber.data()) >= 300)
        # Stop the broker only once every publish already forwarded has its answer and the broker has
        # passed on everything it acknowledged: what a broker loses after its PUBACK is the broker's
        # to keep, not the hub's. (Checking the acknowledged ones alone raced a PUBACK still on its way.)
        gate.held = True
        gate.open.clear()
        await subscriber.until(
            lambda: all(link.unanswered == 0 for link in gate.links) and gate.acked <= subscriber.seqs
        )
        assert outbox.depth(hub.ledger) > 0  # stopped mid-drain
        broker.stop()
        await subscriber.until(lambda: not subscriber.ready.is_set() and not publisher.connected.is_set())
        broker.start()
        await asyncio.wait_for(subscriber.ready.wait(), 10)
        gate.held = False
        gate.open.set()
        await subscriber.until(lambda: len(subscriber.seqs) == total, limit=60)
        await subscriber.until(lambda: outbox.depth(hub.ledger) == 0)
    finally:
        await stop_publisher(publisher, task)
    assert len(gate.links) == 2
    first, _duplicates = delivered_in_order([m["seq"] for m in subscriber.data()], total)
    assert first == list(range(1, total + 1))
    state = outbox.read_state(hub.ledger)
    assert state["state"] == "stopped"


def _config(tmp_path: Path, data_dir: Path, port: int) -> Path:
    config = tmp_path / "hearth.toml"
    config.write_text(
        f'[hub]\nid = "{HUB}"\ndata_dir = "{data_dir}"\n[log]\nlevel = "warning"\n'
        f'[upstream]\nhost = "127.0.0.1"\nport = {port}\ntls = false\nmax_inflight = 8\n'
        'summarise_interval = "1s"\nsummary_lag = "1s"\n'
    )
    return config


def _start_agent(config: Path, tmp_path: Path) -> subprocess.Popen[bytes]:
    with (tmp_path / "agent.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "agent", "run", "-c", str(config)], stdout=log, stderr=log
        )


async def test_agent_killed_mid_drain(tmp_path: Path, broker: Broker, subscriber: Seen) -> None:
    data_dir = tmp_path / "data"
    hub = Hub(data_dir)
    fill(hub, 4000, float(int(time.time())))
    total = outbox.depth(hub.ledger)
    assert total == 8000
    config = _config(tmp_path, data_dir, broker.port)
    agent = _start_agent(config, tmp_path)
    try:
        await subscriber.until(lambda: len(subscriber.data()) >= 800, limit=30)
        os.kill(agent.pid, signal.SIGKILL)
        agent.wait(10)
        assert len(subscriber.seqs) < total  # killed mid-drain
        offline = subscriber.until(lambda: subscriber.messages[-1][1] == b"offline", limit=120)
        await offline  # the broker published the last will
        agent = _start_agent(config, tmp_path)
        await subscriber.until(lambda: len(subscriber.seqs) >= total, limit=60)
        await subscriber.until(lambda: outbox.depth(hub.ledger) == 0)
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(20)
        hub.close()
    first, _ = delivered_in_order([m["seq"] for m in subscriber.data()], total)
    assert first == list(range(1, total + 1))
    # A duplicate is the very message delivered before (same sequence number, same bytes).
    copies: dict[int, bytes] = {}
    for topic, payload, _ in subscriber.messages:
        if not topic.endswith("/status"):
            assert copies.setdefault(json.loads(payload)["seq"], payload) == payload


async def test_start_up_does_not_grow_with_outbox_depth(tmp_path: Path) -> None:
    from agent.config import config_from_mapping
    from agent.daemon import Agent

    data_dir = tmp_path / "data"
    hub = Hub(data_dir)
    grant = hub.grant("coop", ["living_room.*"], "summary:10s", now=time.time() - 100)
    body: dict[str, Any] = {"start": 0.0, "end": 10.0, "count": 1, "mean": 1.0, "min": 1.0, "max": 1.0}
    message = Admitted(grant.id, "coop", "living_room.temperature", "summary", f"{PREFIX}/{HUB}/coop/x", body)
    with transaction(hub.ledger, immediate=True):
        outbox.enqueue(
            hub.ledger, [message] * 100_000, hub_id=HUB, now=time.time(), ttl_s=86400, cap=1_000_000
        )
    hub.close()
    config = config_from_mapping(
        {
            "hub": {"id": HUB, "data_dir": str(data_dir)},
            "sources": [
                {"kind": "simulated", "name": "living_room", "file": "builtin:climate.csv", "rate": 50}
            ],
            # Nothing listens on port 9: the publisher keeps retrying while the agent records.
            "upstream": {"host": "127.0.0.1", "port": 9, "tls": False, "outbox_cap": 1_000_000},
        }
    )
    began = time.monotonic()
    agent = Agent(config)
    recording = asyncio.Event()
    agent.recorder.on_commit.append(lambda _batch: recording.set())
    runner = asyncio.create_task(agent.run())
    try:
        await asyncio.wait_for(recording.wait(), 10)
        elapsed = time.monotonic() - began
    finally:
        agent.stop()
        await runner
    assert elapsed < 2.0, f"recording began {elapsed:.2f} s after start with 100k queued messages"


@pytest.fixture(autouse=True)
def _quiet_paho(caplog: pytest.LogCaptureFixture) -> None:
    """Keep paho's connection-refused retries out of the captured log noise."""
    caplog.set_level(logging.WARNING, logger="agent.sync.paho")
