"""Helpers for the fleet tests: hub configs on disk, running Agents, signed documents, a status watcher."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt
import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.config import load_config
from agent.daemon import Agent
from agent.daemon.lifecycle import HubRunner
from agent.fleet.document import Envelope, encode, key_id, public_key_text, sign
from agent.fleet.mqtt import document_topic
from agent.fleet.service import Status
from agent.readings import Reading
from tests.testbed.mosquitto import Mosquitto as SharedMosquitto
from tests.testbed.wait import eventually

PLUG = """
[[sources]]
kind = "simulated"
name = "plug"
file = "builtin:kettle_plug.csv"
rate = 50
"""

CLIMATE = """
[[sources]]
kind = "simulated"
name = "climate"
file = "builtin:climate.csv"
rate = 50
"""


def model(folder: str = "builtin:appliance") -> str:
    """A ``[[models]]`` entry running the appliance model (or a copy in ``folder``) on the plug's power."""
    return f'\n[[models]]\nname = "appliance"\nmodel = "{folder}"\ninputs = {{ power = "plug.power" }}\n'


def upstream(port: int) -> str:
    """An ``[upstream]`` section for a plain-MQTT broker on ``port``."""
    return f'\n[upstream]\nhost = "127.0.0.1"\nport = {port}\ntls = false\nsummarise_interval = "100ms"\n'


def allow_upstream(port: int) -> str:
    """The owner's ``[fleet]`` line letting a push add exactly ``upstream(port)``'s broker."""
    return f'allow = {{ upstream = {{ host = "127.0.0.1", port = {port}, tls = false }} }}'


def closed_port(folder: Path) -> int:
    """A loopback port nothing listens on (a broker configured there, never started)."""
    folder.mkdir()
    return Mosquitto(folder).port


def write_hub(
    root: Path,
    hub_id: str,
    *,
    key: Ed25519PrivateKey,
    port: int,
    groups: Sequence[str] = (),
    sources: str = PLUG,
    confirm_window: str = "500ms",
    allow: str = "",
) -> Path:
    """Write a provisioned hub's config file under ``root/hub_id``; return its path.

    ``allow`` is a line of the ``[fleet]`` section: the owner's leave for a push to change a destination.
    """
    folder = root / hub_id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "hearth.toml"
    group_list = ", ".join(f'"{g}"' for g in groups)
    path.write_text(
        f"""# provisioned by hand
[hub]
id = "{hub_id}"
data_dir = "{folder / "data"}"
groups = [{group_list}]

[store]
flush_interval = "100ms"

[fleet]
public_key = "{public_key_text(key.public_key())}"
confirm_window = "{confirm_window}"
broker = {{ host = "127.0.0.1", port = {port}, tls = false }}
{allow}
{sources}
"""
    )
    return path


def document(
    key: Ed25519PrivateKey,
    config: str,
    *,
    version: int,
    target: str,
    expires_in: int = 3600,
    issued_at: int | None = None,
    config_format: str = "toml",
) -> bytes:
    """A signed fleet document on the wire."""
    issued = int(time.time()) if issued_at is None else issued_at
    envelope = Envelope(
        version=version,
        target=target,
        issued_at=issued,
        expires_at=issued + expires_in,
        key_id=key_id(key.public_key()),
        config_format=config_format,  # type: ignore[arg-type]
        config=config,
    )
    return encode(sign(envelope, key))


async def publish(port: int, target: str, payload: bytes) -> None:
    """Push ``payload`` retained to ``target``'s topic, as ``hearth fleet push`` does."""
    async with aiomqtt.Client("127.0.0.1", port) as client:
        await client.publish(document_topic("hearth/v1", target), payload, qos=1, retain=True)


async def push_to_hub(port: int, key: Ed25519PrivateKey, hub: str, config: str, *, version: int) -> None:
    """Sign ``config`` as ``version`` for ``hub:<hub>`` and push it."""
    await publish(port, f"hub:{hub}", document(key, config, version=version, target=f"hub:{hub}"))


@dataclass
class Watcher:
    """Every hub's latest retained fleet status, and its link (``online`` / ``offline``)."""

    reports: dict[str, Status] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    seen: list[tuple[str, str, int | None]] = field(default_factory=list)  # every (hub, state, version)

    def state(self, hub: str) -> tuple[str, int | None] | None:
        report = self.reports.get(hub)
        return (report.state, report.version) if report else None

    async def wait_for(
        self, hubs: Sequence[str], state: str, version: int | None, within: float = 30
    ) -> None:
        """Wait until every hub in ``hubs`` reported ``state`` for ``version``; fail naming their reports."""
        await eventually(
            lambda: all(self.state(h) == (state, version) for h in hubs),
            f"{len(hubs)} hubs to report {state} v{version}",
            within,
            detail=lambda: self._summary(hubs),  # what they reported by the deadline
        )

    def _summary(self, hubs: Sequence[str]) -> str:
        counts: dict[object, int] = {}
        for hub in hubs:
            counts[self.state(hub)] = counts.get(self.state(hub), 0) + 1
        return ", ".join(f"{k}: {v}" for k, v in counts.items())


@contextlib.asynccontextmanager
async def watching(port: int) -> AsyncIterator[Watcher]:
    """Follow ``hearth/v1/+/fleet`` and ``hearth/v1/+/online`` for the duration of the block."""
    watcher = Watcher()
    ready = asyncio.Event()

    async def follow() -> None:
        async with aiomqtt.Client("127.0.0.1", port) as client:
            await client.subscribe("hearth/v1/+/fleet", qos=1)
            await client.subscribe("hearth/v1/+/online", qos=1)
            ready.set()
            async for message in client.messages:
                if not isinstance(message.payload, bytes) or not message.payload:
                    continue
                if message.topic.matches("hearth/v1/+/online"):
                    watcher.links[str(message.topic).split("/")[2]] = message.payload.decode()
                else:
                    report = msgspec.json.decode(message.payload, type=Status)
                    watcher.reports[report.hub] = report
                    watcher.seen.append((report.hub, report.state, report.version))

    task = asyncio.create_task(follow(), name="status-watcher")
    await eventually(lambda: ready.is_set() or task.done(), "the status watcher to subscribe")
    try:
        yield watcher
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class _Timestamped:
    """A hub under test whose every recorded reading is kept with the (monotonic) time it arrived."""

    seen: list[tuple[float, str]]

    def readings_since(self, start: float, device: str) -> int:
        return sum(1 for at, stream in self.seen if at >= start and stream.startswith(device + "."))


@dataclass
class RunningHub(_Timestamped):
    """A real Agent running in this process, with every reading it recorded (by stream) timestamped."""

    agent: Agent
    task: asyncio.Task[None]
    seen: list[tuple[float, str]]


@contextlib.asynccontextmanager
async def running(paths: Sequence[Path]) -> AsyncIterator[list[RunningHub]]:
    """Run an Agent for each config file until the block ends."""
    hubs: list[RunningHub] = []
    try:
        for path in paths:
            agent = Agent(load_config(path), config_path=path)
            seen: list[tuple[float, str]] = []
            agent.recorder.listeners.append(_recording(seen))
            task = asyncio.create_task(agent.run(), name=f"agent:{path.parent.name}")
            hubs.append(RunningHub(agent, task, seen))
        for hub in hubs:
            await eventually(lambda h=hub: h.agent.started.is_set() or h.task.done(), "the agent to start")
        yield hubs
    finally:
        for hub in hubs:
            hub.agent.stop()
        for hub in hubs:
            await hub.task


@dataclass
class RestartingHub(_Timestamped):
    """A hub run as ``hearth run`` runs it (restarting when a push needs it), every reading timestamped."""

    runner: HubRunner
    task: asyncio.Task[None]
    seen: list[tuple[float, str]]

    @property
    def agent(self) -> Agent:
        assert self.runner.agent is not None
        return self.runner.agent


@contextlib.asynccontextmanager
async def restarting(path: Path) -> AsyncIterator[RestartingHub]:
    """Run the hub at ``path`` through ``HubRunner`` until the block ends."""
    seen: list[tuple[float, str]] = []
    runner = HubRunner(path, on_agent=lambda agent: agent.recorder.listeners.append(_recording(seen)))
    task = asyncio.create_task(runner.run(), name=f"hub:{path.parent.name}")
    hub = RestartingHub(runner, task, seen)
    try:
        await eventually(
            lambda: (runner.agent is not None and runner.agent.started.is_set()) or task.done(),
            "the hub to start",
        )
        yield hub
    finally:
        runner.stop()
        await task


def _recording(seen: list[tuple[float, str]]) -> Callable[[Sequence[Reading]], None]:
    def listener(batch: Sequence[Reading]) -> None:
        now = time.monotonic()
        seen.extend((now, reading.stream) for reading in batch)

    return listener


class Mosquitto(SharedMosquitto):
    """The shared test broker, with room for the fleet simulation's retained and queued messages."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder, extra_conf="max_queued_messages 10000\n")
