"""Home Assistant on the local broker: discovery, live state, and switch commands to boards.

The adopted streams are read from the readings store (adoption is what puts a device there), so a
forgotten device simply disappears from the next reconciliation and its entities are removed with
an empty retained config. Retained configs this hub left behind on the broker (a device forgotten
while the agent was stopped) are cleared when they are seen after connecting.

State is rate-limited per stream: the latest reading of each stream is published at most once per
``state_interval``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from agent.aio import cancel_and_wait
from agent.config.durations import seconds
from agent.config.schema import BoardAction, LocalMqttConfig
from agent.local.broker import LocalBroker
from agent.local.discovery import (
    StreamEntity,
    SwitchEntity,
    Topics,
    sensor_config,
    state_payload,
    switch_config,
)
from agent.readings import Reading
from agent.rules.dispatch import BoardCommander, command_with_retry
from agent.rules.engine import Intent

log = logging.getLogger(__name__)

StreamLoader = Callable[[], Awaitable[list[StreamEntity]]]


def adopted_streams(conn: Any) -> list[StreamEntity]:
    """Every stream of an adopted device, read from the readings file (run on the writer thread)."""
    rows = conn.execute(
        "SELECT s.name, d.name, d.kind, s.quantity, s.unit, s.kind "
        "FROM streams s JOIN devices d ON d.id = s.device_id ORDER BY s.name"
    ).fetchall()
    return [StreamEntity(*row) for row in rows]


class HomeAssistantBridge:
    """Keeps Home Assistant's view of the hub in step with the store and the live readings."""

    def __init__(
        self,
        broker: LocalBroker,
        config: LocalMqttConfig,
        load_streams: StreamLoader,
        *,
        commander: BoardCommander | None = None,
    ) -> None:
        self.broker = broker
        self.config = config
        self.load_streams = load_streams
        self.commander = commander
        self.topics = Topics(
            broker.hub_id, broker.base_topic, broker.availability_topic, config.discovery_prefix
        )
        self.state_interval = seconds(config.state_interval)
        self.discovery_every = seconds(config.discovery_every)
        self.switches = {s.name: s for s in config.switches}
        self.entities: dict[str, StreamEntity] = {}
        self.published: dict[str, str] = {}  # config topic -> payload last sent
        self._desired: dict[str, str] = {}
        self.removed = 0
        self.commands_failed = 0
        self._latest: dict[str, Reading] = {}
        self._refresh = asyncio.Event()
        self._loaded = asyncio.Event()
        self._tasks: set[asyncio.Task[object]] = set()
        broker.on_connect.append(self._on_connect)
        if config.discovery:
            broker.subscribe(f"{self.topics.prefix}/+/{self.topics.hub_id}/+/config", self._on_config_seen)
        for switch in config.switches:
            broker.subscribe(self.topics.switch_command(switch.name), self._on_command)

    # -- feeding -------------------------------------------------------------------------------

    def on_readings(self, batch: Sequence[Reading]) -> None:
        """Recorder listener: remember each stream's latest reading for the next state publish."""
        latest = self._latest
        for reading in batch:
            latest[reading[0]] = reading

    def on_action_done(self, intent: Intent) -> None:
        """Dispatcher hook: a rule's ACKed board command that matches a switch moves the switch too."""
        action = intent.action
        if not isinstance(action, BoardAction):
            return
        for switch in self.config.switches:
            if (switch.board, switch.command) != (action.board, action.command):
                continue
            state = "ON" if action.arg == switch.arg_on else "OFF" if action.arg == switch.arg_off else None
            if state is not None:
                self._spawn(
                    self.broker.publish(self.topics.switch_state(switch.name), state, qos=1, retain=True),
                    f"ha:switch:{switch.name}:state",
                )

    def _spawn(self, coro: Coroutine[Any, Any, object], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def refresh(self) -> None:
        """Reconcile discovery now (after a device was adopted or forgotten)."""
        self._refresh.set()

    # -- running -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Reconcile discovery and publish state until cancelled; switch commands in flight end with it."""
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._reconcile_loop(), name="ha:discovery")
                group.create_task(self._state_loop(), name="ha:state")
        finally:
            await cancel_and_wait(self._tasks, None)

    async def _reconcile_loop(self) -> None:
        while True:
            self._refresh.clear()
            try:
                await self.reconcile()
            except Exception:
                log.exception("reading adopted streams for Home Assistant failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.discovery_every):
                    await self._refresh.wait()

    async def reconcile(self) -> None:
        """Load the adopted streams; announce new entities and remove those of forgotten devices."""
        streams = await self.load_streams()
        self.entities = {e.stream: e for e in streams}
        self._loaded.set()
        if self.broker.is_connected:
            await self._sync_configs()

    def desired_configs(self) -> dict[str, str]:
        """Every discovery topic this hub should have retained, with its payload."""
        if not self.config.discovery:
            return {}
        out: dict[str, str] = {}
        for entity in self.entities.values():
            topic, payload = sensor_config(self.topics, entity)
            out[topic] = json.dumps(payload, sort_keys=True)
        for switch in self.config.switches:
            topic, payload = switch_config(self.topics, SwitchEntity(switch.name, switch.board))
            out[topic] = json.dumps(payload, sort_keys=True)
        return out

    async def _sync_configs(self, *, resend: bool = False) -> None:
        desired = self._desired = self.desired_configs()
        for topic, payload in desired.items():
            if (resend or self.published.get(topic) != payload) and await self.broker.publish(
                topic, payload, qos=1, retain=True
            ):
                self.published[topic] = payload
        for topic in [t for t in self.published if t not in desired]:
            if await self.broker.publish(topic, "", qos=1, retain=True):
                del self.published[topic]
                self.removed += 1
                log.info("removed Home Assistant entity %s", topic)

    async def _on_connect(self) -> None:
        if not self._loaded.is_set():
            await self.reconcile()
        await self._sync_configs(resend=True)

    async def _on_config_seen(self, topic: str, payload: bytes) -> None:
        """A retained config under this hub's node id that is no longer wanted: clear it."""
        if not payload or not self._loaded.is_set():
            return
        if topic not in self._desired:
            await self.broker.publish(topic, "", qos=1, retain=True)
            self.published.pop(topic, None)
            self.removed += 1
            log.info("removed stale Home Assistant entity %s", topic)

    async def _state_loop(self) -> None:
        while True:
            await asyncio.sleep(self.state_interval)
            if not self._latest or not self.broker.connected.is_set():
                continue
            latest, self._latest = self._latest, {}
            for stream, reading in latest.items():
                entity = self.entities.get(stream)
                if entity is None:
                    # Not adopted (yet): keep the latest so it is sent once discovery knows it.
                    self._latest.setdefault(stream, reading)
                    continue
                await self.broker.publish(
                    self.topics.state(stream), state_payload(entity.kind, reading[2], reading[3])
                )
                if entity.kind == "context":
                    await self.broker.publish(
                        self.topics.attributes(stream), json.dumps({"confidence": reading[2]})
                    )

    # -- switches ------------------------------------------------------------------------------

    async def _on_command(self, topic: str, payload: bytes) -> None:
        name = topic.removeprefix(f"{self.topics.base}/switch/").removesuffix("/set")
        switch = self.switches.get(name)
        text = payload.decode("utf-8", "replace").strip().upper()
        if switch is None or text not in ("ON", "OFF"):
            log.warning("ignored a switch command on %s (expected ON or OFF)", topic)
            return
        self._spawn(self._command(name, text), f"ha:switch:{name}")

    async def _command(self, name: str, state: str) -> None:
        switch = self.switches[name]
        if self.commander is None:
            self.commands_failed += 1
            log.warning("switch %s: no link to board %s", name, switch.board)
            return
        arg = switch.arg_on if state == "ON" else switch.arg_off
        try:
            await command_with_retry(self.commander, switch.board, switch.command, arg)
        # A board link may fail in ways of its own; none of them may stop the service.
        except Exception as exc:  # noqa: BLE001
            self.commands_failed += 1
            log.error("switch %s: board %s did not ACK %s: %s", name, switch.board, switch.command, exc)
            return
        await self.broker.publish(self.topics.switch_state(name), state, qos=1, retain=True)
