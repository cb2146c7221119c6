"""Home Assistant on the local broker: discovery, live state, and switch commands to boards.

The adopted streams are read from the readings store (adoption is what puts a device there), so a
forgotten device simply disappears from the next reconciliation and its entities are removed with
an empty retained config. Retained configs this hub left behind on the broker (a device forgotten
while the agent was stopped) are cleared when they are seen after connecting.

State is rate-limited per stream: the latest reading of each stream is published at most once per
``state_interval``, retained, so Home Assistant finds every entity's state when it (re)subscribes;
when Home Assistant announces itself ``online`` on its birth topic the last states are sent again.
Events (a button press) are neither rate-limited nor retained: each one is sent once, as it comes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from agent.aio import cancel_and_wait
from agent.config.durations import seconds
from agent.config.schema import BoardAction, LocalMqttConfig
from agent.local.broker import LocalBroker
from agent.local.discovery import (
    Presentation,
    StreamEntity,
    SwitchEntity,
    Topics,
    device_block,
    object_ids,
    present,
    state_payload,
    stream_config,
    switch_config,
)
from agent.prediction.strands import attributes as prediction_attributes
from agent.readings import Reading
from agent.rules.engine import Intent
from agent.sources.commander import BoardCommander, command_with_retry
from agent.store import queries

log = logging.getLogger(__name__)

StreamLoader = Callable[[], Awaitable[list[StreamEntity]]]
# Events waiting to be sent; past this many (Home Assistant away) the oldest are dropped.
MAX_PENDING_EVENTS = 256


def adopted_streams(conn: Any) -> list[StreamEntity]:
    """Every stream of an adopted device in the order it was adopted, read from the readings file.

    Run on the writer thread. The order decides which of two streams whose names differ only in
    where the dot is keeps the plain object id (see ``object_ids``).
    """
    return [
        StreamEntity(s.name, s.device, s.device_kind, s.quantity, s.unit, s.kind)
        for s in queries.stream_catalogue(conn, order="id")
    ]


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
        self.shown: dict[str, Presentation] = {}
        self.published: dict[str, str] = {}  # config topic -> payload last sent
        self.states: dict[str, str] = {}  # state or attributes topic -> payload last sent
        self._desired: dict[str, str] = {}
        self._state_topics: set[str] = set()  # state topics of the desired configs
        self.removed = 0
        self.commands_failed = 0
        self.events_dropped = 0
        self._latest: dict[str, Reading] = {}
        self._event_streams: frozenset[str] = frozenset()
        self._events: deque[Reading] = deque()
        self._event_ready = asyncio.Event()
        self._refresh = asyncio.Event()
        self._loaded = asyncio.Event()
        self._tasks: set[asyncio.Task[object]] = set()
        broker.on_connect.append(self._on_connect)
        if config.discovery:
            broker.subscribe(f"{self.topics.prefix}/+/{self.topics.hub_id}/+/config", self._on_config_seen)
            broker.subscribe(self.topics.birth, self._on_birth)
        for switch in config.switches:
            broker.subscribe(self.topics.switch_command(switch.name), self._on_command)

    # -- feeding -------------------------------------------------------------------------------

    def on_readings(self, batch: Sequence[Reading]) -> None:
        """Recorder listener: remember each stream's latest reading for the next state publish."""
        latest = self._latest
        events = self._event_streams
        for reading in batch:
            if reading[3] is not None and reading[0] in events:
                self._queue_event(reading)
            else:
                latest[reading[0]] = reading

    def _queue_event(self, reading: Reading) -> None:
        if len(self._events) >= MAX_PENDING_EVENTS:
            self._events.popleft()
            self.events_dropped += 1
        self._events.append(reading)
        self._event_ready.set()

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
                    self._send_state(self.topics.switch_state(switch.name), state, qos=1),
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
                group.create_task(self._event_loop(), name="ha:events")
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
        self.shown = {e.stream: present(e) for e in streams}
        self._event_streams = frozenset(s for s, shown in self.shown.items() if shown.state == "event")
        self._loaded.set()
        if self.broker.is_connected:
            await self._sync_configs()

    def desired_configs(self) -> dict[str, str]:
        """Every discovery topic this hub should have retained, with its payload."""
        if not self.config.discovery:
            return {}
        out: dict[str, str] = {}
        kinds = {e.device: e.device_kind for e in self.entities.values()}
        devices = {name: device_block(self.topics, name, kind) for name, kind in kinds.items()}
        oids = object_ids(self.entities)
        for entity in self.entities.values():
            topic, payload = stream_config(self.topics, entity, oids[entity.stream], devices[entity.device])
            out[topic] = json.dumps(payload, sort_keys=True)
        switch_oids = object_ids(f"{s.board}.{s.name}" for s in self.config.switches)
        for switch in self.config.switches:
            device = devices.get(switch.board) or device_block(self.topics, switch.board, "board")
            topic, payload = switch_config(
                self.topics,
                SwitchEntity(switch.name, switch.board),
                switch_oids[f"{switch.board}.{switch.name}"],
                device,
            )
            out[topic] = json.dumps(payload, sort_keys=True)
        return out

    async def _sync_configs(self, *, resend: bool = False) -> None:
        desired = self._desired = self.desired_configs()
        self._state_topics = {t for p in desired.values() for t in _state_topics(p)}
        for topic, payload in desired.items():
            if (resend or self.published.get(topic) != payload) and await self.broker.publish(
                topic, payload, qos=1, retain=True
            ):
                self.published[topic] = payload
        for topic in [t for t in self.published if t not in desired]:
            if await self._remove(topic, self.published[topic]):
                del self.published[topic]
                log.info("removed Home Assistant entity %s", topic)

    async def _remove(self, topic: str, payload: str | bytes) -> bool:
        """Clear a retained config, and the retained states of its entity no desired config shares."""
        if not await self.broker.publish(topic, "", qos=1, retain=True):
            return False
        self.removed += 1
        for state_topic in _state_topics(payload):
            if state_topic not in self._state_topics and state_topic.startswith(f"{self.topics.base}/"):
                self.states.pop(state_topic, None)
                await self.broker.publish(state_topic, "", qos=1, retain=True)
        return True

    async def _on_connect(self) -> None:
        if not self._loaded.is_set():
            await self.reconcile()
        await self._sync_configs(resend=True)

    async def _on_config_seen(self, topic: str, payload: bytes) -> None:
        """A retained config under this hub's node id that is no longer wanted: clear it."""
        if not payload or not self._loaded.is_set():
            return
        if topic not in self._desired:
            await self._remove(topic, payload)
            self.published.pop(topic, None)
            log.info("removed stale Home Assistant entity %s", topic)

    async def _on_birth(self, topic: str, payload: bytes) -> None:
        """Home Assistant (re)started: send every entity's last state again."""
        del topic
        if payload.strip() != b"online":
            return
        for state_topic, state in list(self.states.items()):
            await self.broker.publish(state_topic, state, retain=True)

    async def _state_loop(self) -> None:
        while True:
            await asyncio.sleep(self.state_interval)
            if not self._latest or not self.broker.connected.is_set():
                continue
            latest, self._latest = self._latest, {}
            for stream, reading in latest.items():
                shown = self.shown.get(stream)
                if shown is None:
                    # Not adopted (yet): keep the latest so it is sent once discovery knows it.
                    self._latest.setdefault(stream, reading)
                    continue
                if shown.state == "event":
                    continue
                await self._send_state(
                    self.topics.state(stream), state_payload(shown, reading[2], reading[3])
                )
                if shown.state == "label":
                    attributes: dict[str, Any] = {"confidence": reading[2]}
                    if len(reading) > 4 and reading[4] is not None:  # hot sources send 4-tuples
                        attributes["model_version"] = reading[4]
                    await self._send_state(self.topics.attributes(stream), json.dumps(attributes))
                elif shown.state in ("forecast", "anomaly"):
                    found = prediction_attributes(stream, reading[3])
                    if found is not None:
                        await self._send_state(self.topics.attributes(stream), json.dumps(found))

    async def _send_state(self, topic: str, payload: str | None, qos: int = 0) -> None:
        """Publish a state retained and remember it for Home Assistant's next birth message."""
        if payload is not None and await self.broker.publish(topic, payload, qos=qos, retain=True):
            self.states[topic] = payload

    async def _event_loop(self) -> None:
        while True:
            await self._event_ready.wait()
            self._event_ready.clear()
            await self.broker.connected.wait()
            while self._events:
                reading = self._events.popleft()
                shown = self.shown.get(reading[0])
                payload = None if shown is None else state_payload(shown, reading[2], reading[3])
                if payload is not None:
                    await self.broker.publish(self.topics.state(reading[0]), payload, qos=1)

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
        await self._send_state(self.topics.switch_state(name), state, qos=1)


def _state_topics(payload: str | bytes) -> list[str]:
    """The state topics a discovery payload names (none if it is not a JSON object)."""
    try:
        config = json.loads(payload)
    except ValueError:
        return []
    if not isinstance(config, dict):
        return []
    return [t for k in ("state_topic", "json_attributes_topic") if isinstance(t := config.get(k), str)]
