"""Every Home Assistant discovery payload Hearth can produce, with sample states, as JSON on stdout.

Run in the project's environment; ``scripts/ha-validate`` feeds the output to ``check.py`` inside
a Home Assistant environment. The streams are every quantity of the discovery table with every unit
it takes or converts, the unit spellings Hearth normalises, what the BLE parser libraries describe
(BTHome's measurement table and the shared sensor library Xiaomi and RuuviTag use, binary sensors
and events included), context and anomaly strands, odd units and a board switch.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from agent.config.schema import LocalMqttConfig, SwitchConfig
from agent.local import discovery
from agent.local.broker import LocalBroker
from agent.local.discovery import StreamEntity, present, state_payload
from agent.local.homeassistant import HomeAssistantBridge

# Values the BLE decoder never passes on (text, bytes, datetimes): no stream is made of them.
_NOT_NUMBERS = frozenset({"text", "raw", "timestamp", "date", "enum"})


def _text(value: Any) -> str:
    return "" if value is None else str(getattr(value, "value", value))


def ble_streams() -> set[tuple[str, str]]:
    """(quantity, unit) of every value the BLE parser libraries describe."""
    from bthome_ble.const import MEAS_TYPES
    from bthome_ble.event import EventDeviceKeys
    from sensor_state_data import BinarySensorDeviceClass, SensorLibrary

    out: set[tuple[str, str]] = set()
    described = [m.meas_format for m in MEAS_TYPES.values()] + list(SensorLibrary.__dict__.values())
    for item in described:
        if isinstance(item, EventDeviceKeys):
            out.add((_text(item), ""))
        elif hasattr(item, "device_class") and _text(item.device_class) not in _NOT_NUMBERS:
            out.add((_text(item.device_class), _text(getattr(item, "native_unit_of_measurement", None))))
    out |= {(_text(c), "") for c in BinarySensorDeviceClass}
    out.discard(("signal_strength", "dBm"))  # the decoder skips the radio's own values
    out.discard(("packet_id", ""))
    return out


def streams() -> list[StreamEntity]:
    """One adopted stream per case, each on a device of its own kind."""
    cases: list[tuple[str, str, str]] = []  # (device kind, quantity, unit)
    for quantity, (_cls, units, _sc) in discovery.DEVICE_CLASSES.items():
        cases += [("serial", quantity, unit) for unit in sorted(units)]
        cases += [
            ("serial", quantity, unit)
            for unit, (to, _factor) in discovery.UNIT_CONVERSIONS.items()
            if to in units
        ]
    cases += [("serial", "temperature_2", "°C")]
    cases += [("serial", "temp", alias) for alias in ("C", "degC", "celsius", "F", "degF")]
    cases += [("serial", "lux", "lux"), ("serial", "hum", "%RH"), ("serial", "pm25", "ug/m3")]
    cases += [("serial", "bpm", "BPM"), ("serial", "odd", "furlongs"), ("serial", "temperature", "%")]
    cases += [("serial", "count", ""), ("serial", "power", ""), ("serial", "door", "")]
    cases += [("ble", q, u) for q, u in sorted(ble_streams())]
    cases += [("ble", "button_2", ""), ("ble", "button_left", ""), ("ble", "opening_2", "")]
    out = [
        StreamEntity(f"dev{i}.{quantity}", f"dev{i}", kind, quantity, unit, "sensor")
        for i, (kind, quantity, unit) in enumerate(cases)
    ]
    out.append(StreamEntity("context.activity", "context", "model", "activity", "", "context"))
    out.append(StreamEntity("anomaly.dev0_temperature", "anomaly", "model", "dev0_temperature", "", "sensor"))
    # Two streams whose names differ only by the dot, and a board with sensors and a switch.
    out.append(StreamEntity("kitchen_plug.power", "kitchen_plug", "serial", "power", "W", "sensor"))
    out.append(StreamEntity("kitchen.plug_power", "kitchen", "serial", "plug_power", "W", "sensor"))
    out.append(StreamEntity("desk.temperature", "desk", "serial", "temperature", "°C", "sensor"))
    return out


def samples(entity: StreamEntity) -> list[str]:
    """State messages the hub may publish for ``entity``."""
    shown = present(entity)
    if shown.state == "event":
        types = shown.fields["event_types"]
        return [p for t in types if (p := state_payload(shown, 1.0, t)) is not None]
    labels: list[str | None] = ["kettle"] if shown.state == "label" else [None]
    values = (0.0, 1.0, 21.5, -3.25, 1234.0)
    return sorted({p for v in values for lb in labels if (p := state_payload(shown, v, lb)) is not None})


async def main() -> None:
    config = LocalMqttConfig(switches=[SwitchConfig(name="fan", board="desk", command="set")])
    broker = LocalBroker(config, "hub-1")
    entities = streams()

    async def load() -> list[StreamEntity]:
        return entities

    bridge = HomeAssistantBridge(broker, config, load)
    await bridge.reconcile()
    by_state = {bridge.topics.state(e.stream): e for e in entities}
    out = []
    for topic, text in bridge.desired_configs().items():
        payload = json.loads(text)
        entity = by_state.get(payload["state_topic"])
        if entity is None:  # the switch
            states = [payload["state_on"], payload["state_off"]]
            what = "switch desk.fan"
        else:
            states = samples(entity)
            what = f"{entity.device_kind} {entity.quantity!r} [{entity.unit}]"
        out.append({"topic": topic, "payload": payload, "states": states, "what": what})
    json.dump({"hearth_min_home_assistant": discovery.MIN_HOME_ASSISTANT, "entities": out}, sys.stdout)


if __name__ == "__main__":
    asyncio.run(main())
