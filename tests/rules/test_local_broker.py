"""End to end with a real Mosquitto as the home's broker: rule actions, HA discovery, switches, forgetting."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from agent.backoff import Backoff
from agent.config.schema import LocalMqttConfig
from agent.local.broker import LocalBroker
from agent.local.discovery import DEVICE_CLASSES
from agent.readings import StreamInfo
from tests.rules.conftest import FakeBoard, HandSource, Mosquitto, hub_config, running, watching
from tests.testbed.wait import eventually

PREFIX = "homeassistant"
NODE = "test-hub"
BASE = "hearth/test-hub"

BENCH_STREAMS = [
    StreamInfo.of("bench", "temperature", "°C"),
    StreamInfo.of("bench", "humidity", "%"),
    StreamInfo.of("bench", "power", "W"),
    StreamInfo.of("bench", "energy", "kWh"),
    StreamInfo.of("bench", "battery", "%"),
    StreamInfo.of("bench", "pressure", "hPa"),
    StreamInfo.of("bench", "illuminance", "lx"),
    StreamInfo.of("bench", "voltage", "V"),
    StreamInfo.of("bench", "current", "A"),
    StreamInfo.of("bench", "heart_rate", "bpm"),
    StreamInfo.of("bench", "odd", "furlongs"),
    # A unit that does not fit the quantity's class: the class must be left out, not sent wrong.
    StreamInfo.of("bench", "temperature2", "%"),
]
CONTEXT = [StreamInfo.of("context", "appliance", "", kind="context")]


def local_mqtt(port: int, **extra: Any) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": port, "state_interval": "50ms", "discovery_every": "200ms", **extra}


def check_home_assistant_entity(component: str, topic: str, config: dict[str, Any]) -> None:
    """What Home Assistant's MQTT integration requires of a discovered entity of ``component``."""
    assert topic.startswith(f"{PREFIX}/{component}/{NODE}/")
    assert topic.endswith("/config")
    # unique_id and a device with identifiers put the entity in HA's registries.
    assert config["unique_id"].startswith("hearth_")
    device = config["device"]
    assert device["identifiers"]
    assert all(isinstance(i, str) for i in device["identifiers"])
    assert {"name", "manufacturer", "model", "sw_version"} <= device.keys()
    assert config["availability_topic"] == f"{BASE}/status"
    assert (config["payload_available"], config["payload_not_available"]) == ("online", "offline")
    if component == "sensor":
        assert config["state_topic"].startswith(f"{BASE}/state/")
        device_class = config.get("device_class")
        if device_class is not None:
            # Each class accepts only its own units.
            units = {dc: u for dc, u, _ in DEVICE_CLASSES.values() if dc}[device_class]
            assert config["unit_of_measurement"] in units
            if device_class == "energy":
                assert config["state_class"] in ("total", "total_increasing")
        if "unit_of_measurement" in config:
            assert config["state_class"] in ("measurement", "total", "total_increasing")
        else:
            assert "device_class" not in config
    elif component == "switch":
        assert config["command_topic"]
        assert config["payload_on"] != config["payload_off"]
        assert config["state_topic"]
    else:
        raise AssertionError(f"unexpected component {component}")


async def test_a_reading_crossing_the_threshold_publishes_on_the_local_broker(
    tmp_path: Path, mosquitto: int, known: dict[str, set[str]]
) -> None:
    known["strands"].add("kitchen_plug.power")
    config = hub_config(
        tmp_path / "data",
        local_mqtt=local_mqtt(mosquitto, discovery=False),
        rules=[
            {
                "name": "kettle-on",
                "when": {"stream": "kitchen_plug.power", "above": 1500, "hysteresis": 200},
                "actions": [
                    {"kind": "publish", "topic": "home/kitchen/kettle", "payload": "on at {value} W"},
                    {"kind": "log", "message": "kettle is on"},
                ],
            }
        ],
    )
    plug = HandSource("kitchen_plug", [StreamInfo.of("kitchen_plug", "power", "W")])
    async with watching(mosquitto, "home/#", f"{BASE}/status") as ha, running(config, plug):
        await plug.ready.wait()
        await eventually(lambda: ha.last.get(f"{BASE}/status") == b"online", "the hub to connect")
        for watts in (3, 1400, 1499):
            plug.feed("kitchen_plug.power", watts)
        plug.feed("kitchen_plug.power", 1950.0)
        for watts in (1400, 1600, 1350, 1950):  # wobbles inside the band: no second publish
            plug.feed("kitchen_plug.power", watts)
        kettle = lambda: [p for t, p in ha.history if t == "home/kitchen/kettle"]  # noqa: E731
        await eventually(kettle, "the rule's publish")
        plug.feed("kitchen_plug.power", 2.0)
        plug.feed("kitchen_plug.power", 1800.0)
        await eventually(lambda: len(kettle()) >= 2, "the second publish after a real drop")
        assert kettle() == [b"on at 1950.0 W", b"on at 1800.0 W"]


async def test_discovery_announces_every_stream_as_home_assistant_requires(
    tmp_path: Path, mosquitto: int
) -> None:
    config = hub_config(tmp_path / "data", local_mqtt=local_mqtt(mosquitto))
    bench = HandSource("bench", BENCH_STREAMS)
    context = HandSource("context", CONTEXT)
    expected = {f"{PREFIX}/sensor/{NODE}/{s.name.replace('.', '_')}/config" for s in BENCH_STREAMS + CONTEXT}
    async with watching(mosquitto, f"{PREFIX}/#", f"{BASE}/#") as ha:
        async with running(config, bench, context):
            await bench.ready.wait()
            await context.ready.wait()
            # The recorder stores a declared stream with its first reading's batch.
            for info in BENCH_STREAMS:
                bench.feed(info.name, 1.0)
            context.feed("context.appliance", 0.5, "idle")
            await eventually(lambda: expected <= ha.last.keys(), "a discovery config for every stream")
            configs = {t: json.loads(p) for t, p in ha.last.items() if t.startswith(PREFIX)}
            for topic, payload in configs.items():
                check_home_assistant_entity(topic.split("/")[1], topic, payload)

            by_stream = {c["state_topic"].removeprefix(f"{BASE}/state/"): c for c in configs.values()}
            want = {
                "bench.temperature": ("temperature", "°C", "measurement"),
                "bench.humidity": ("humidity", "%", "measurement"),
                "bench.power": ("power", "W", "measurement"),
                "bench.energy": ("energy", "kWh", "total_increasing"),
                "bench.battery": ("battery", "%", "measurement"),
                "bench.pressure": ("pressure", "hPa", "measurement"),
                "bench.illuminance": ("illuminance", "lx", "measurement"),
                "bench.voltage": ("voltage", "V", "measurement"),
                "bench.current": ("current", "A", "measurement"),
                "bench.heart_rate": (None, "bpm", "measurement"),
                "bench.odd": (None, "furlongs", "measurement"),
                "bench.temperature2": (None, "%", "measurement"),
            }
            for stream, (device_class, unit, state_class) in want.items():
                got = by_stream[stream]
                assert (got.get("device_class"), got["unit_of_measurement"], got["state_class"]) == (
                    device_class,
                    unit,
                    state_class,
                ), stream
            appliance = by_stream["context.appliance"]
            # A context strand's state is a label: no unit, no state_class, else HA rejects the text.
            assert "unit_of_measurement" not in appliance
            assert "state_class" not in appliance
            assert appliance["json_attributes_topic"] == f"{BASE}/state/context.appliance/attributes"
            assert ha.last[f"{BASE}/status"] == b"online"

            # State topics follow the live readings.
            bench.feed("bench.temperature", 21.5)
            context.feed("context.appliance", 0.93, "kettle")
            await eventually(
                lambda: (
                    ha.last.get(f"{BASE}/state/bench.temperature") == b"21.5"
                    and ha.last.get(f"{BASE}/state/context.appliance") == b"kettle"
                ),
                "live state on the state topics",
            )
            attributes = f"{BASE}/state/context.appliance/attributes"
            await eventually(
                lambda: json.loads(ha.last[attributes]) == {"confidence": 0.93}, "the label's confidence"
            )
            # A label from a version the owner's labels adapted names that version.
            context.feed("context.appliance", 0.88, "heat_pump", version=2)
            await eventually(
                lambda: json.loads(ha.last[attributes]) == {"confidence": 0.88, "model_version": 2},
                "the model version as an attribute",
            )
        # A graceful stop marks every entity unavailable.
        await eventually(lambda: ha.last.get(f"{BASE}/status") == b"offline", "the hub to say offline")


async def test_state_is_rate_limited_per_stream(tmp_path: Path, mosquitto: int) -> None:
    config = hub_config(tmp_path / "data", local_mqtt=local_mqtt(mosquitto, state_interval="1s"))
    bench = HandSource("bench", BENCH_STREAMS[:1])
    topic = f"{BASE}/state/bench.temperature"
    async with watching(mosquitto, f"{BASE}/state/#") as ha, running(config, bench):
        await bench.ready.wait()
        bench.feed("bench.temperature", 20.0)
        await eventually(lambda: topic in ha.last, "the first state")
        for i in range(200):
            bench.feed("bench.temperature", 20.0 + i / 100)
        await eventually(lambda: ha.last[topic] == b"21.99", "the latest value")
        # Two hundred readings within about a second reach Home Assistant as a handful of states.
        assert sum(1 for t, _ in ha.history if t == topic) <= 4


async def test_a_switch_command_from_home_assistant_reaches_the_board(
    tmp_path: Path, mosquitto: int, known: dict[str, set[str]]
) -> None:
    known["boards"].add("desk")
    config = hub_config(
        tmp_path / "data",
        local_mqtt=local_mqtt(
            mosquitto,
            switches=[{"name": "led", "board": "desk", "command": "led", "arg_on": 255}],
        ),
    )
    board = FakeBoard("desk", nacks=1)  # the first attempt is NACKed: the hub retries
    switch_config = f"{PREFIX}/switch/{NODE}/desk_led/config"
    async with watching(mosquitto, f"{PREFIX}/#", f"{BASE}/switch/#") as ha, running(config, board):
        await eventually(lambda: switch_config in ha.last, "the switch's discovery config")
        entity = json.loads(ha.last[switch_config])
        check_home_assistant_entity("switch", switch_config, entity)
        await ha.client.publish(entity["command_topic"], entity["payload_on"])
        await eventually(lambda: board.received, "the board to receive the command")
        assert board.received == [("led", 255)]
        assert board.attempts == 2
        await eventually(lambda: ha.last.get(entity["state_topic"]) == b"ON", "the switch state ON")
        await ha.client.publish(entity["command_topic"], entity["payload_off"])
        await eventually(lambda: ha.last.get(entity["state_topic"]) == b"OFF", "the switch state OFF")
        assert board.received[-1] == ("led", 0)


async def test_a_rule_sends_a_command_to_a_board(
    tmp_path: Path, mosquitto: int, known: dict[str, set[str]]
) -> None:
    known["boards"].add("desk")
    known["strands"].add("context.appliance")
    config = hub_config(
        tmp_path / "data",
        rules=[
            {
                "name": "kettle-led",
                "when": {
                    "stream": "context.appliance",
                    "equals": "kettle",
                    "min_confidence": 0.7,
                    "for": "300ms",
                },
                "actions": [{"kind": "board", "board": "desk", "command": "set", "arg": 1, "attempts": 3}],
            }
        ],
    )
    board = FakeBoard("desk", nacks=2)
    context = HandSource("context", CONTEXT)
    async with running(config, board, context):
        await context.ready.wait()
        context.feed("context.appliance", 0.9, "kettle")
        await eventually(lambda: board.received, "the rule's command to reach the board")
        assert board.received == [("set", 1)]
        assert board.attempts == 3


async def test_forgetting_a_device_removes_its_entities(tmp_path: Path, mosquitto: int) -> None:
    config = hub_config(tmp_path / "data", local_mqtt=local_mqtt(mosquitto))
    bench = HandSource("bench", BENCH_STREAMS[:2])
    plug = HandSource("plug", [StreamInfo.of("plug", "power", "W")])
    bench_topics = {f"{PREFIX}/sensor/{NODE}/bench_{q}/config" for q in ("temperature", "humidity")}
    plug_topic = f"{PREFIX}/sensor/{NODE}/plug_power/config"
    async with watching(mosquitto, f"{PREFIX}/#") as ha, running(config, bench, plug):
        await bench.ready.wait()
        await plug.ready.wait()
        bench.feed("bench.temperature", 20.0)
        bench.feed("bench.humidity", 40.0)
        plug.feed("plug.power", 3.0)
        await eventually(lambda: bench_topics | {plug_topic} <= ha.last.keys(), "discovery of both devices")
        _forget(tmp_path / "data" / "readings.db", "bench")
        await eventually(lambda: all(ha.last[t] == b"" for t in bench_topics), "empty retained configs")
        assert ha.last[plug_topic] != b""
    # A later subscriber (Home Assistant restarting) sees no retained config for the forgotten device.
    async with watching(mosquitto, f"{PREFIX}/#") as late:
        await eventually(lambda: plug_topic in late.last, "the retained config of the kept device")
        assert not bench_topics & late.last.keys()


async def test_entities_forgotten_while_the_hub_was_down_are_cleared_on_connect(
    tmp_path: Path, mosquitto: int
) -> None:
    config = hub_config(tmp_path / "data", local_mqtt=local_mqtt(mosquitto))
    stale = f"{PREFIX}/sensor/{NODE}/gone_power/config"
    async with watching(mosquitto, f"{PREFIX}/#") as ha:
        await ha.client.publish(stale, json.dumps({"state_topic": "x"}), qos=1, retain=True)
        bench = HandSource("bench", BENCH_STREAMS[:1])
        async with running(config, bench):
            await bench.ready.wait()
            bench.feed("bench.temperature", 20.0)
            await eventually(lambda: ha.last.get(stale) == b"", "the stale config to be cleared")


def _forget(path: Path, device: str) -> None:
    """Erase a device from the readings file the way forgetting it does."""
    conn = sqlite3.connect(path)
    try:
        with conn:
            conn.execute(
                "DELETE FROM streams WHERE device_id = (SELECT id FROM devices WHERE name = ?)", (device,)
            )
            conn.execute("DELETE FROM devices WHERE name = ?", (device,))
    finally:
        conn.close()


async def test_the_hub_reconnects_and_announces_again_after_the_broker_restarts(
    tmp_path: Path, mosquitto_server: Mosquitto
) -> None:
    port = mosquitto_server.port
    config = hub_config(tmp_path / "data", local_mqtt=local_mqtt(port))
    bench = HandSource("bench", BENCH_STREAMS[:1])
    topic = f"{PREFIX}/sensor/{NODE}/bench_temperature/config"
    async with running(config, bench):
        await bench.ready.wait()
        bench.feed("bench.temperature", 20.0)
        async with watching(port, f"{PREFIX}/#") as ha:
            await eventually(lambda: topic in ha.last, "discovery before the restart")
        mosquitto_server.stop()
        mosquitto_server.start()  # no persistence: every retained config is gone
        async with watching(port, f"{PREFIX}/#", f"{BASE}/status") as ha:
            await eventually(lambda: topic in ha.last, "discovery again after the restart", within=20)
            assert ha.last[f"{BASE}/status"] == b"online"


async def test_each_outage_of_the_local_broker_is_told_once_and_so_is_each_recovery(
    mosquitto_server: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agent.local.broker")
    config = LocalMqttConfig(host="127.0.0.1", port=mosquitto_server.port)
    broker = LocalBroker(config, NODE, backoff=Backoff(base=0.05, cap=0.2))
    mosquitto_server.stop()
    task = asyncio.create_task(broker.run())
    try:
        for outage in range(2):
            await eventually(lambda: broker.reconnect.failures >= 3, f"three failures, outage {outage}")
            mosquitto_server.start()
            await asyncio.wait_for(broker.connected.wait(), 20)
            mosquitto_server.stop()  # the second outage drops a live connection
            await eventually(lambda: not broker.connected.is_set(), "the drop")
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    said = [r.getMessage() for r in caplog.records if r.name == "agent.local.broker"]
    where = f"local broker 127.0.0.1:{mosquitto_server.port}"
    # refused at the start, dropped twice: three outages, each told once, however many attempts failed
    assert len([m for m in said if m.startswith(f"{where} is down: ")]) == 3
    assert len([m for m in said if m.startswith(f"{where} is back after ")]) == 2
