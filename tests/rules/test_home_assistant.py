"""Home Assistant as users run it: units every supported release accepts, one device per board, entity
ids that never collide, binary sensors and events, and states that survive Home Assistant restarting."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.config.schema import LocalMqttConfig, SwitchConfig
from agent.local.broker import LocalBroker
from agent.local.discovery import StreamEntity, object_id, object_ids, present, state_payload
from agent.local.homeassistant import HomeAssistantBridge
from agent.readings import StreamInfo
from tests.rules.conftest import HandSource, hub_config, running, watching
from tests.testbed.wait import eventually

PREFIX = "homeassistant"
BASE = "hearth/test-hub"


async def _no_streams() -> list[StreamEntity]:
    return []


def configs(
    entities: list[StreamEntity], switches: list[SwitchConfig] | None = None
) -> dict[str, dict[str, Any]]:
    """Every discovery config the hub publishes for ``entities`` and ``switches``, by topic."""
    config = LocalMqttConfig(switches=switches or [])
    bridge = HomeAssistantBridge(LocalBroker(config, "test-hub"), config, _no_streams)
    bridge.entities = {e.stream: e for e in entities}
    return {topic: json.loads(payload) for topic, payload in bridge.desired_configs().items()}


def entity(stream: str, unit: str = "", device_kind: str = "ble", kind: str = "sensor") -> StreamEntity:
    device, _, quantity = stream.partition(".")
    return StreamEntity(stream, device, device_kind, quantity, unit, kind)


def only(found: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    assert len(found) == 1, found
    return next(iter(found.items()))


# -- units -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "unit", "value", "want"),
    [
        ("power", "mW", 1500.0, ("W", "power", "1.5")),
        ("power", "MW", 2.5, ("kW", "power", "2500")),
        ("energy", "J", 7200.0, ("Wh", "energy", "2")),
        ("energy", "kJ", 36.0, ("Wh", "energy", "10")),
        ("energy", "mWh", 1234.0, ("Wh", "energy", "1.234")),
        ("voltage", "kV", 0.23, ("V", "voltage", "230")),
        ("power_2", "mW", 5.0, ("W", "power", "0.005")),  # a parser's second power value
    ],
)
def test_units_only_recent_home_assistant_accepts_are_converted(
    quantity: str, unit: str, value: float, want: tuple[str, str, str]
) -> None:
    stream = entity(f"meter.{quantity}", unit, device_kind="serial")
    _, config = only(configs([stream]))
    got = (config["unit_of_measurement"], config["device_class"], state_payload(present(stream), value, None))
    assert got == want


def test_units_every_supported_home_assistant_accepts_are_sent_as_they_are() -> None:
    stream = entity("meter.power", "kW", device_kind="serial")
    _, config = only(configs([stream]))
    assert (config["unit_of_measurement"], config["device_class"]) == ("kW", "power")
    assert state_payload(present(stream), 1.25, None) == "1.25"


# -- one device per board --------------------------------------------------------------------------


def test_a_board_s_sensors_and_switches_describe_one_device() -> None:
    found = configs(
        [entity("desk.temperature", "°C", device_kind="serial"), entity("desk.fan_speed", "rpm", "serial")],
        [SwitchConfig(name="fan", board="desk", command="set")],
    )
    assert {t.split("/")[1] for t in found} == {"sensor", "switch"}
    devices = [json.dumps(c["device"], sort_keys=True) for c in found.values()]
    assert len(set(devices)) == 1, devices


# -- entity ids ------------------------------------------------------------------------------------


def test_two_streams_whose_names_differ_only_by_the_dot_are_two_entities() -> None:
    first, second = entity("kitchen_plug.power", "W", "serial"), entity("kitchen.plug_power", "W", "serial")
    found = configs([first, second])
    assert len(found) == 2
    assert len({c["unique_id"] for c in found.values()}) == 2
    states = {c["state_topic"] for c in found.values()}
    assert states == {f"{BASE}/state/kitchen_plug.power", f"{BASE}/state/kitchen.plug_power"}
    # The stream adopted first keeps the id it always had, whichever of the two it is.
    assert f"{PREFIX}/sensor/test-hub/kitchen_plug_power/config" in found
    assert (
        object_ids(["kitchen.plug_power", "kitchen_plug.power"])["kitchen.plug_power"] == "kitchen_plug_power"
    )


def test_two_board_switches_whose_names_differ_only_by_the_board_are_two_entities() -> None:
    found = configs(
        [],
        [
            SwitchConfig(name="c", board="a_b", command="set"),
            SwitchConfig(name="b_c", board="a", command="set"),
        ],
    )
    assert len({c["unique_id"] for c in found.values()}) == 2


def test_streams_without_a_twin_keep_their_entity_ids() -> None:
    names = ["bench.temperature", "kitchen_plug.power", "bench.heart_rate", "context.activity", "b.x y"]
    assert object_ids(names) == {name: object_id(name) for name in names}
    assert object_ids(names)["kitchen_plug.power"] == "kitchen_plug_power"


_NAME = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,4}\.[a-z0-9_ .-]{1,4}", fullmatch=True)


@given(st.lists(_NAME, unique=True, max_size=12))
def test_object_ids_are_distinct_valid_and_plain_where_free(names: list[str]) -> None:
    oids = object_ids(names)
    assert sorted(oids) == sorted(names)
    assert len(set(oids.values())) == len(names)
    assert all(object_id(o) == o and o for o in oids.values())
    taken: set[str] = set()
    for name in names:  # the first holder of a plain id keeps it
        if object_id(name) not in taken:
            assert oids[name] == object_id(name)
        taken.add(object_id(name))


# -- binary sensors and events ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stream", "unit", "device_kind", "component", "device_class"),
    [
        ("door_sensor.opening", "", "ble", "binary_sensor", "opening"),
        ("door_sensor.door", "", "ble", "binary_sensor", "door"),
        ("door_sensor.window", "", "ble", "binary_sensor", "window"),
        ("hall.motion", "", "ble", "binary_sensor", "motion"),
        ("hall.occupancy", "", "ble", "binary_sensor", "occupancy"),
        ("sink.moisture", "", "ble", "binary_sensor", "moisture"),
        ("plant.moisture", "%", "ble", "sensor", "moisture"),
        ("remote.battery", "", "ble", "binary_sensor", "battery"),
        ("remote.battery", "%", "ble", "sensor", "battery"),
        ("remote.opening_2", "", "ble", "binary_sensor", "opening"),
        ("remote.generic", "", "ble", "binary_sensor", None),
        ("remote.button", "", "ble", "event", "button"),
        ("remote.button_2", "", "ble", "event", "button"),
        ("remote.button_left", "", "ble", "event", "button"),
        ("remote.dimmer", "", "ble", "event", None),
        ("remote.command", "", "ble", "event", None),
        ("anomaly.kitchen_plug_power", "", "simulated", "binary_sensor", "problem"),
        # A text-mode board's unitless power is a number, not on/off; its door is a door.
        ("desk.power", "", "serial", "sensor", None),
        ("desk.door", "", "serial", "binary_sensor", "door"),
    ],
)
def test_state_quantities_are_binary_sensors_and_buttons_events(
    stream: str, unit: str, device_kind: str, component: str, device_class: str | None
) -> None:
    topic, config = only(configs([entity(stream, unit, device_kind)]))
    assert topic.split("/")[1] == component
    assert config.get("device_class") == device_class
    if component == "event":
        assert {"press", "rotate_left", "toggle"} & set(config["event_types"])
    if component != "sensor":
        assert "unit_of_measurement" not in config
        assert "state_class" not in config


def test_binary_and_event_states() -> None:
    door, button = entity("door.opening"), entity("remote.button")
    assert state_payload(present(door), 1.0, None) == "ON"
    assert state_payload(present(door), 0.0, None) == "OFF"
    assert json.loads(state_payload(present(button), 1.0, "double_press") or "") == {
        "event_type": "double_press"
    }
    assert state_payload(present(button), 1.0, None) is None
    assert state_payload(present(button), 1.0, "rotate_left") is None  # not a button's event


# -- with a real broker ----------------------------------------------------------------------------


class BleHand(HandSource):
    """A hand-fed source that stands for the BLE scanner (its streams are BLE devices')."""

    kind = "ble"


def local_mqtt(port: int, **extra: Any) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": port, "state_interval": "50ms", "discovery_every": "200ms", **extra}


async def test_home_assistant_restarting_finds_every_state_again(tmp_path: Path, mosquitto: int) -> None:
    config = hub_config(tmp_path / "data", local_mqtt=local_mqtt(mosquitto))
    meter = HandSource("meter", [StreamInfo.of("meter", "power", "mW")])
    context = HandSource("context", [StreamInfo.of("context", "appliance", "", kind="context")])
    door = BleHand("door", [StreamInfo.of("door", "opening")])
    states = {
        f"{BASE}/state/meter.power": b"1.5",
        f"{BASE}/state/context.appliance": b"kettle",
        f"{BASE}/state/door.opening": b"ON",
    }
    async with running(config, meter, context, door):
        for source in (meter, context, door):
            await source.ready.wait()
        async with watching(mosquitto, f"{PREFIX}/#", f"{BASE}/#") as ha:
            meter.feed("meter.power", 1500.0)
            context.feed("context.appliance", 0.9, "kettle")  # a label that then stays as it is
            door.feed("door.opening", 1.0)
            await eventually(lambda: all(ha.last.get(t) == v for t, v in states.items()), "the states")
            door_config = f"{PREFIX}/binary_sensor/test-hub/door_opening/config"
            await eventually(lambda: door_config in ha.last, "the door's binary sensor")
            power = json.loads(ha.last[f"{PREFIX}/sensor/test-hub/meter_power/config"])
            assert (power["unit_of_measurement"], power["device_class"]) == ("W", "power")
        # Home Assistant restarts: it subscribes again and finds the states retained...
        async with watching(mosquitto, f"{BASE}/#") as ha:
            await eventually(lambda: all(ha.last.get(t) == v for t, v in states.items()), "retained states")
            assert ha.last[f"{BASE}/status"] == b"online"
            seen = len(ha.history)
            # ...and once it says it is online, the hub sends them again without a new reading.
            await ha.client.publish(f"{PREFIX}/status", "online")
            await eventually(
                lambda: {t for t, _ in ha.history[seen:]} >= states.keys(), "the states sent again"
            )
            assert all(ha.last[t] == v for t, v in states.items())
            assert f"{BASE}/status" not in {t for t, _ in ha.history[seen:]}  # availability as it was
            assert ha.last[f"{BASE}/status"] == b"online"
            await ha.client.publish(f"{PREFIX}/status", "offline")  # Home Assistant's last will: nothing


async def test_button_presses_reach_home_assistant_as_events(tmp_path: Path, mosquitto: int) -> None:
    config = hub_config(tmp_path / "data", local_mqtt=local_mqtt(mosquitto, state_interval="1s"))
    remote = BleHand("remote", [StreamInfo.of("remote", "button")])
    topic = f"{BASE}/state/remote.button"
    event_config = f"{PREFIX}/event/test-hub/remote_button/config"
    async with watching(mosquitto, f"{PREFIX}/#", f"{BASE}/state/#") as ha, running(config, remote):
        await remote.ready.wait()
        remote.feed("remote.button", 1.0, "press")  # declares the stream; discovery then knows it
        await eventually(lambda: event_config in ha.last, "the event entity's config")
        entity_config = json.loads(ha.last[event_config])
        assert entity_config["state_topic"] == topic
        assert "double_press" in entity_config["event_types"]
        remote.feed("remote.button", 1.0, "press")
        remote.feed("remote.button", 1.0, "double_press")
        # Both presses, well within one state interval, reach Home Assistant: events are not rate-limited.
        events = lambda: [json.loads(p) for t, p in ha.history if t == topic]  # noqa: E731
        await eventually(lambda: {"event_type": "double_press"} in events(), "the double press")
        assert events()[-2:] == [{"event_type": "press"}, {"event_type": "double_press"}]
    # An event is not a state: Home Assistant restarting must not see the last press again.
    async with watching(mosquitto, f"{BASE}/state/#", f"{BASE}/status") as late:
        await eventually(lambda: f"{BASE}/status" in late.last, "the retained availability")
        assert topic not in late.last
