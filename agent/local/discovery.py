"""Home Assistant MQTT discovery payloads, as pure functions of streams and config.

A sensor stream becomes a ``sensor`` entity whose device class and unit come from the table
below; a unit that does not fit the class drops the class rather than send Home Assistant an
entity it rejects. Context strands (``context.activity``) are text sensors: the label is the
state, the confidence an attribute. Board actuators become ``switch`` entities.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from agent import __version__

ORIGIN = {"name": "Hearth", "sw_version": __version__}

# quantity -> (device_class or None, units Home Assistant accepts for it, state_class)
DEVICE_CLASSES: dict[str, tuple[str | None, frozenset[str], str]] = {
    "temperature": ("temperature", frozenset({"°C", "°F", "K"}), "measurement"),
    "humidity": ("humidity", frozenset({"%"}), "measurement"),
    "moisture": ("moisture", frozenset({"%"}), "measurement"),
    "power": ("power", frozenset({"mW", "W", "kW", "MW"}), "measurement"),
    "energy": ("energy", frozenset({"Wh", "kWh", "MWh", "J", "kJ", "MJ"}), "total_increasing"),
    "battery": ("battery", frozenset({"%"}), "measurement"),
    "pressure": (
        "pressure",
        frozenset({"Pa", "hPa", "kPa", "bar", "cbar", "mbar", "mmHg", "inHg", "psi"}),
        "measurement",
    ),
    "illuminance": ("illuminance", frozenset({"lx"}), "measurement"),
    "voltage": ("voltage", frozenset({"mV", "V", "kV"}), "measurement"),
    "current": ("current", frozenset({"mA", "A"}), "measurement"),
    "frequency": ("frequency", frozenset({"Hz", "kHz", "MHz", "GHz"}), "measurement"),
    "co2": ("carbon_dioxide", frozenset({"ppm"}), "measurement"),
    "pm25": ("pm25", frozenset({"µg/m³"}), "measurement"),
    "pm10": ("pm10", frozenset({"µg/m³"}), "measurement"),
    "rssi": ("signal_strength", frozenset({"dB", "dBm"}), "measurement"),
    "distance": ("distance", frozenset({"mm", "cm", "m", "km"}), "measurement"),
    "weight": ("weight", frozenset({"g", "kg"}), "measurement"),
    # Home Assistant has no heart-rate class: a plain numeric sensor with its unit.
    "heart_rate": (None, frozenset({"bpm"}), "measurement"),
}

_QUANTITY_ALIASES = {
    "temp": "temperature",
    "hum": "humidity",
    "rh": "humidity",
    "lux": "illuminance",
    "light": "illuminance",
    "carbon_dioxide": "co2",
    "signal_strength": "rssi",
    "hr": "heart_rate",
    "bpm": "heart_rate",
    "pulse": "heart_rate",
    "bat": "battery",
}

_UNIT_ALIASES = {
    "C": "°C",
    "degC": "°C",
    "celsius": "°C",
    "F": "°F",
    "degF": "°F",
    "lux": "lx",
    "kwh": "kWh",
    "wh": "Wh",
    "%RH": "%",
    "ug/m3": "µg/m³",
    "µg/m3": "µg/m³",
    "BPM": "bpm",
    "mbar": "mbar",
}

_OBJECT_ID = re.compile(r"[^a-zA-Z0-9_-]")


class StreamEntity(NamedTuple):
    """An adopted stream as discovery needs it (from the readings store)."""

    stream: str
    device: str
    device_kind: str
    quantity: str
    unit: str
    kind: str  # sensor | context


class SwitchEntity(NamedTuple):
    """A board actuator shown as a switch."""

    name: str
    board: str


class Topics(NamedTuple):
    """Where one hub's discovery and state live."""

    hub_id: str
    base: str
    availability: str
    prefix: str = "homeassistant"

    def state(self, stream: str) -> str:
        return f"{self.base}/state/{stream}"

    def attributes(self, stream: str) -> str:
        return f"{self.base}/state/{stream}/attributes"

    def switch_state(self, name: str) -> str:
        return f"{self.base}/switch/{name}/state"

    def switch_command(self, name: str) -> str:
        return f"{self.base}/switch/{name}/set"

    def config(self, component: str, object_id: str) -> str:
        return f"{self.prefix}/{component}/{self.hub_id}/{object_id}/config"


def object_id(name: str) -> str:
    """A discovery object id (letters, digits, '_' and '-') for a stream or switch name."""
    return _OBJECT_ID.sub("_", name)


def normalise_unit(unit: str) -> str:
    """The spelling Home Assistant expects for ``unit`` (``C`` → ``°C``, ``lux`` → ``lx``)."""
    return _UNIT_ALIASES.get(unit.strip(), unit.strip())


def classify(quantity: str, unit: str) -> dict[str, str]:
    """Device class, unit and state class of a numeric stream; a class only where the unit fits it."""
    unit = normalise_unit(unit)
    key = quantity.lower()
    key = _QUANTITY_ALIASES.get(key, key)
    out: dict[str, str] = {"state_class": "measurement"}
    if unit:
        out["unit_of_measurement"] = unit
    entry = DEVICE_CLASSES.get(key)
    if entry is not None:
        device_class, units, state_class = entry
        if unit in units:
            if device_class is not None:
                out["device_class"] = device_class
            out["state_class"] = state_class
    return out


def _device(topics: Topics, name: str, model: str) -> dict[str, Any]:
    return {
        "identifiers": [f"hearth_{topics.hub_id}_{name}"],
        "name": name,
        "manufacturer": "Hearth",
        "model": model,
        "sw_version": __version__,
    }


def _common(topics: Topics, unique: str) -> dict[str, Any]:
    return {
        "unique_id": f"hearth_{topics.hub_id}_{unique}",
        "availability_topic": topics.availability,
        "payload_available": "online",
        "payload_not_available": "offline",
        "origin": ORIGIN,
    }


def sensor_config(topics: Topics, entity: StreamEntity) -> tuple[str, dict[str, Any]]:
    """The retained discovery topic and payload of one stream's sensor entity."""
    oid = object_id(entity.stream)
    payload = {
        **_common(topics, oid),
        "name": entity.quantity.replace("_", " ").capitalize(),
        "state_topic": topics.state(entity.stream),
        "device": _device(topics, entity.device, f"{entity.device_kind} device"),
    }
    if entity.kind == "context":
        payload["json_attributes_topic"] = topics.attributes(entity.stream)
        payload["icon"] = "mdi:home-analytics"
    else:
        payload.update(classify(entity.quantity, entity.unit))
        if entity.quantity.lower() in ("heart_rate", "hr", "bpm", "pulse"):
            payload["icon"] = "mdi:heart-pulse"
    return topics.config("sensor", oid), payload


def switch_config(topics: Topics, switch: SwitchEntity) -> tuple[str, dict[str, Any]]:
    """The retained discovery topic and payload of one board actuator's switch entity."""
    oid = object_id(f"{switch.board}_{switch.name}")
    payload = {
        **_common(topics, f"switch_{oid}"),
        "name": switch.name.replace("_", " ").capitalize(),
        "command_topic": topics.switch_command(switch.name),
        "state_topic": topics.switch_state(switch.name),
        "payload_on": "ON",
        "payload_off": "OFF",
        "state_on": "ON",
        "state_off": "OFF",
        "optimistic": False,
        "device": _device(topics, switch.board, "board"),
    }
    return topics.config("switch", oid), payload


def state_payload(entity_kind: str, value: float, label: str | None) -> str:
    """The state message of a reading: the number, or a context strand's label."""
    if entity_kind == "context":
        return label or ""
    text = repr(value)
    return text.removesuffix(".0")
