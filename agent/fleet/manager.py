"""The fleet manager's side: make the fleet key, sign documents, push them and read what the hubs report.

The ``hearth fleet`` commands are a thin layer over these; staged rollouts (``agent.fleet.rollout``) are
built on them too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt
import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.config.schema import BrokerConfig, Config, FleetConfig, HubConfig
from agent.connection import port_of
from agent.errors import AgentError, ConfigError
from agent.fleet.document import Envelope, key_id, public_key_text
from agent.fleet.mqtt import client, presence_topic, status_topic
from agent.fleet.report import Status
from agent.fleet.verify import pushed_config

FINAL = ("applied", "rejected", "rolled_back")


@dataclass(frozen=True)
class KeyPair:
    """Where ``make_key`` wrote the fleet key, and the public half as hubs pin it."""

    private_path: Path
    public_path: Path
    public: str
    key_id: str


def make_key(out_dir: Path) -> KeyPair:
    """Write a new Ed25519 fleet key: ``fleet.key`` (private, 0600) and ``fleet.pub``; never overwrite."""
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    private_path, public_path = out_dir / "fleet.key", out_dir / "fleet.pub"
    if private_path.exists():
        raise ConfigError("a fleet key is already there; refusing to overwrite it", source=str(private_path))
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    public = public_key_text(key.public_key())
    public_path.write_text(public + "\n", encoding="ascii")
    return KeyPair(private_path, public_path, public, key_id(key.public_key()))


def envelope_for(
    text: str,
    config_format: str,
    *,
    key: Ed25519PrivateKey,
    version: int,
    target: str,
    issued_at: int,
    expires_at: int,
    base_dir: Path,
) -> Envelope:
    """The envelope of ``text`` for ``target``, checked as a hub would check it (a ConfigError if not)."""
    envelope = Envelope(
        version=version,
        target=target,
        issued_at=issued_at,
        expires_at=expires_at,
        key_id=key_id(key.public_key()),
        config_format="json" if config_format == "json" else "toml",
        config=text,
    )
    # Check it as a hub would, so a bad config fails here rather than on every hub.
    probe = Config(
        hub=HubConfig(id="fleet-check"),
        fleet=FleetConfig(
            public_key=public_key_text(key.public_key()), broker=BrokerConfig(host="localhost")
        ),
    )
    pushed_config(envelope, probe, base_dir=base_dir)
    return envelope


@dataclass(frozen=True)
class Follow:
    """What a push waits for: reports of ``version`` under ``prefix``, for ``seconds``.

    With a hub target the wait ends once that hub has reported.
    """

    prefix: str
    version: int
    target: str
    seconds: float

    @property
    def hub(self) -> str | None:
        kind, _, name = self.target.partition(":")
        return name if kind == "hub" else None


def decode_status(payload: bytes) -> Status | None:
    """A hub's status report, or None for a payload that is not one (a cleared topic, a stranger)."""
    if not payload:
        return None
    try:
        return msgspec.json.decode(payload, type=Status)
    except msgspec.DecodeError:
        return None


async def push(
    endpoint: BrokerConfig,
    topic: str,
    payload: bytes,
    follow: Follow | None = None,
    on_report: Callable[[Status], None] = lambda report: None,
) -> dict[str, str]:
    """Publish ``payload`` retained on ``topic``; then, with ``follow``, each hub's outcome of it.

    ``on_report`` sees each hub's first final report of the version.
    """
    outcomes: dict[str, str] = {}
    try:
        async with client(endpoint, identifier=None) as mqtt:
            if follow is not None:  # subscribed first, so no report is missed
                await mqtt.subscribe(status_topic(follow.prefix, "+"), qos=1)
            await mqtt.publish(topic, payload, qos=1, retain=True)
            if follow is None:
                return outcomes
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(follow.seconds):
                    async for message in mqtt.messages:
                        report = decode_status(message.payload)
                        if report is None or report.version != follow.version or report.state not in FINAL:
                            continue
                        if report.hub not in outcomes:
                            on_report(report)
                        outcomes[report.hub] = report.state
                        if follow.hub is not None and report.hub == follow.hub:
                            break
    except aiomqtt.MqttError as exc:
        raise AgentError(f"cannot publish to {endpoint.host}:{port_of(endpoint)}: {exc}") from None
    return outcomes


@dataclass
class FleetView:
    """Every hub's latest retained report, and its link (``online`` / ``offline``) where it says one."""

    reports: dict[str, Status] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)

    def take(self, topic: str, payload: bytes) -> bool:
        """Take one message from a status or presence topic; True if it changed the view."""
        levels = topic.split("/")
        if len(levels) < 2 or not payload:
            return False
        if levels[-1] == "online":
            self.links[levels[-2]] = payload.decode(errors="replace")
            return True
        report = decode_status(payload)
        if report is None:
            return False
        self.reports[report.hub] = report
        return True


async def follow_fleet(mqtt: aiomqtt.Client, prefix: str) -> None:
    """Subscribe ``mqtt`` to every hub's status and presence (the retained ones come at once)."""
    await mqtt.subscribe(status_topic(prefix, "+"), qos=1)
    await mqtt.subscribe(presence_topic(prefix, "+"), qos=1)


async def collect(endpoint: BrokerConfig, prefix: str, wait: float) -> FleetView:
    """Every hub's retained status report and link, as the broker holds them, gathered for ``wait`` s."""
    view = FleetView()
    try:
        async with client(endpoint, identifier=None) as mqtt:
            await follow_fleet(mqtt, prefix)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    async for message in mqtt.messages:
                        view.take(str(message.topic), message.payload)
    except aiomqtt.MqttError as exc:
        raise AgentError(f"cannot reach {endpoint.host}:{port_of(endpoint)}: {exc}") from None
    return view


async def watch(endpoint: BrokerConfig, prefix: str, every: float) -> AsyncIterator[FleetView]:
    """The fleet view as it changes: once the retained reports are in, then at most every ``every`` s."""
    view = FleetView()
    changed = asyncio.Event()
    try:
        async with client(endpoint, identifier=None) as mqtt:
            await follow_fleet(mqtt, prefix)

            async def read() -> None:
                async for message in mqtt.messages:
                    if view.take(str(message.topic), message.payload):
                        changed.set()

            reader = asyncio.create_task(read(), name="fleet:watch")
            try:
                first = True
                while True:
                    await asyncio.sleep(every)  # a screen's refresh, not a wait for something
                    if reader.done():
                        reader.result()
                        raise aiomqtt.MqttError("the broker closed the connection")
                    if first or changed.is_set():
                        first = False
                        changed.clear()
                        yield view
            finally:
                reader.cancel()
    except aiomqtt.MqttError as exc:
        raise AgentError(f"lost {endpoint.host}:{port_of(endpoint)}: {exc}") from None
