"""Fixtures for the real-time service: a real Mosquitto on loopback, hand-fed sources, a fake board."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from agent.config import Config, config_from_mapping
from agent.config.schema import Scalar
from agent.daemon import Agent
from agent.errors import BoardCommandError
from agent.pipeline.sink import Sink
from agent.readings import Reading, StreamInfo
from agent.sources import strands as strands_module
from tests.testbed.mosquitto import Mosquitto
from tests.testbed.wait import eventually


@pytest.fixture
def mosquitto_server(tmp_path: Path) -> Iterator[Mosquitto]:
    """A running Mosquitto (anonymous, no persistence) that the test can restart."""
    with Mosquitto(tmp_path) as server:
        yield server


@pytest.fixture
def mosquitto(mosquitto_server: Mosquitto) -> int:
    """The port of a real Mosquitto on loopback."""
    return mosquitto_server.port


class HandSource:
    """A source the test feeds by hand: declares its streams, then waits for ``feed``."""

    kind = "simulated"
    overflow = "block"

    def __init__(self, name: str, streams: list[StreamInfo]) -> None:
        self.name = name
        self.streams = streams
        self.sink: Sink | None = None
        self.ready = asyncio.Event()

    async def run(self, sink: Sink) -> None:
        for info in self.streams:
            sink.declare(info)
        self.sink = sink
        self.ready.set()
        await asyncio.Event().wait()

    def feed(
        self,
        stream: str,
        value: float,
        label: str | None = None,
        ts: float | None = None,
        version: int | None = None,
    ) -> None:
        assert self.sink is not None
        self.sink.put_nowait(Reading(stream, ts if ts is not None else _now(), value, label, version))


def _now() -> float:
    import time

    return time.time()


class FakeBoard:
    """A board seen through its source: records commands, NACKs the first ``nacks`` of them."""

    kind = "serial"
    overflow = "block"

    def __init__(self, name: str, *, nacks: int = 0) -> None:
        self.name = name
        self.nacks = nacks
        self.attempts = 0
        self.received: list[tuple[str, Scalar | None]] = []

    async def run(self, sink: Sink) -> None:
        del sink
        await asyncio.Event().wait()

    async def send_command(self, name: str, arg: Scalar | None = None) -> None:
        self.attempts += 1
        if self.nacks:
            self.nacks -= 1
            raise BoardCommandError(f"board {self.name} NACKed {name}")
        self.received.append((name, arg))


@pytest.fixture
def known(monkeypatch: pytest.MonkeyPatch) -> dict[str, set[str]]:
    """Extra strands and boards the config check should accept (as other layers will declare them)."""
    extra: dict[str, set[str]] = {"strands": set(), "boards": set()}
    monkeypatch.setattr(
        strands_module, "STRAND_PROVIDERS", [*strands_module.STRAND_PROVIDERS, lambda _c: extra["strands"]]
    )
    monkeypatch.setattr(
        strands_module, "BOARD_PROVIDERS", [*strands_module.BOARD_PROVIDERS, lambda _c: extra["boards"]]
    )
    return extra


def hub_config(data_dir: Path, **sections: Any) -> Config:
    """A config for hub ``test-hub`` keeping data in ``data_dir``, plus ``sections``."""
    return config_from_mapping(
        {
            "hub": {"id": "test-hub", "data_dir": str(data_dir)},
            "store": {"flush_interval": "50ms"},
            **sections,
        },
        source="test",
    )


@contextlib.asynccontextmanager
async def running(config: Config, *sources: Any) -> AsyncIterator[Agent]:
    """Run an Agent on ``sources`` (default: the config's) until the block ends, then stop it gracefully."""
    agent = Agent(config, sources=list(sources) or None, health_every=0.5)
    task = asyncio.create_task(agent.run(), name="agent")
    try:
        await eventually(lambda: agent.started.is_set() or task.done(), "the agent to start")
        if task.done():
            task.result()
        yield agent
    finally:
        agent.stop()
        async with asyncio.timeout(15):
            await task


class Watcher:
    """An MQTT client in the role of Home Assistant: remembers the last message on every topic."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.last: dict[str, bytes] = {}
        self.history: list[tuple[str, bytes]] = []

    async def pump(self) -> None:
        async for message in self.client.messages:
            payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
            self.last[str(message.topic)] = payload
            self.history.append((str(message.topic), payload))


@contextlib.asynccontextmanager
async def watching(port: int, *topics: str) -> AsyncIterator[Watcher]:
    """Subscribe to ``topics`` on the local broker and collect what arrives."""
    async with aiomqtt.Client("127.0.0.1", port, identifier="home-assistant-test") as client:
        for topic in topics:
            await client.subscribe(topic, qos=1)
        watcher = Watcher(client)
        pump = asyncio.create_task(watcher.pump(), name="watcher")
        try:
            yield watcher
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await pump
