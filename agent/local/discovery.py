"""Home Assistant MQTT discovery payloads, as pure functions of streams and config.

A numeric stream becomes a ``sensor`` entity whose device class and unit come from the table
below; a unit that does not fit the class drops the class rather than send Home Assistant an
entity it rejects. Units that only recent Home Assistant releases accept for a class (``mW``,
``J``, ``kV``...) are converted to one every supported release accepts (``W``, ``Wh``, ``V``), and
the state values with them. Context strands (``context.activity``) are text sensors: the label is
the state, the confidence an attribute. A state quantity (door, window, motion, moisture...) as BLE
sensors report it becomes a ``binary_sensor``, a button or dimmer an ``event`` entity, an anomaly
strand a ``problem`` binary sensor (on while its score is not 0, the expected range as attributes). A
forecast strand is a sensor in its stream's unit whose attributes are the interval; a battery's low
warning is a ``battery`` binary sensor. Board actuators become ``switch`` entities.

Every payload here passes Home Assistant's own discovery schema and sensor unit rules from
``MIN_HOME_ASSISTANT`` on (``scripts/ha-validate`` checks them against the real package).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any, NamedTuple

from agent import __version__

MIN_HOME_ASSISTANT = "2023.8"

ORIGIN = {"name": "Hearth", "sw_version": __version__}

# quantity -> (device_class or None, units every supported Home Assistant accepts for it, state_class)
DEVICE_CLASSES: dict[str, tuple[str | None, frozenset[str], str]] = {
    "temperature": ("temperature", frozenset({"°C", "°F", "K"}), "measurement"),
    "humidity": ("humidity", frozenset({"%"}), "measurement"),
    "moisture": ("moisture", frozenset({"%"}), "measurement"),
    "power": ("power", frozenset({"W", "kW"}), "measurement"),
    "energy": ("energy", frozenset({"Wh", "kWh", "MWh", "MJ", "GJ"}), "total_increasing"),
    "battery": ("battery", frozenset({"%"}), "measurement"),
    "pressure": (
        "pressure",
        frozenset({"Pa", "hPa", "kPa", "bar", "cbar", "mbar", "mmHg", "inHg", "psi"}),
        "measurement",
    ),
    "illuminance": ("illuminance", frozenset({"lx"}), "measurement"),
    "voltage": ("voltage", frozenset({"mV", "V"}), "measurement"),
    "current": ("current", frozenset({"mA", "A"}), "measurement"),
    "frequency": ("frequency", frozenset({"Hz", "kHz", "MHz", "GHz"}), "measurement"),
    "co2": ("carbon_dioxide", frozenset({"ppm"}), "measurement"),
    "pm25": ("pm25", frozenset({"µg/m³"}), "measurement"),
    "pm10": ("pm10", frozenset({"µg/m³"}), "measurement"),
    "rssi": ("signal_strength", frozenset({"dB", "dBm"}), "measurement"),
    "distance": ("distance", frozenset({"mm", "cm", "m", "km", "in", "ft", "yd", "mi"}), "measurement"),
    "weight": ("weight", frozenset({"µg", "mg", "g", "kg", "oz", "lb"}), "measurement"),
    "pm1": ("pm1", frozenset({"µg/m³"}), "measurement"),
    "volatile_organic_compounds": ("volatile_organic_compounds", frozenset({"µg/m³"}), "measurement"),
    "speed": ("speed", frozenset({"m/s", "km/h", "mph"}), "measurement"),
    "duration": ("duration", frozenset({"ms", "s", "min", "h", "d"}), "measurement"),
    "precipitation": ("precipitation", frozenset({"mm", "cm", "in"}), "total_increasing"),
    "volume": ("volume", frozenset({"mL", "L", "m³"}), "total"),
    "gas": ("gas", frozenset({"m³", "ft³"}), "total_increasing"),
    "water": ("water", frozenset({"L", "m³", "gal"}), "total_increasing"),
    # Home Assistant has no heart-rate class: a plain numeric sensor with its unit.
    "heart_rate": (None, frozenset({"bpm"}), "measurement"),
}

# unit -> (the unit every supported Home Assistant accepts for the same class, factor to it).
# Home Assistant took mW, MW, mWh, J, kJ and kV into its unit table only in 2024.10-2025.3.
UNIT_CONVERSIONS: dict[str, tuple[str, float]] = {
    "mW": ("W", 1e-3),
    "MW": ("kW", 1e3),
    "mWh": ("Wh", 1e-3),
    "J": ("Wh", 1 / 3600),
    "kJ": ("Wh", 1 / 3.6),
    "kV": ("V", 1e3),
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
    "mass": "weight",
    "dew_point": "temperature",
    "voc": "volatile_organic_compounds",
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
}

# State quantities as the BLE parser libraries name them (their binary sensor keys) -> HA's
# binary_sensor device class (None: no class). A unitless stream of one of these is on/off.
BINARY_CLASSES: dict[str, str | None] = {
    name: name
    for name in (
        "battery",
        "battery_charging",
        "carbon_monoxide",
        "cold",
        "connectivity",
        "door",
        "garage_door",
        "gas",
        "heat",
        "light",
        "lock",
        "moisture",
        "motion",
        "moving",
        "occupancy",
        "opening",
        "plug",
        "power",
        "presence",
        "problem",
        "running",
        "safety",
        "smoke",
        "sound",
        "tamper",
        "vibration",
        "window",
    )
} | {"generic": None}
# A unitless stream of these from anything but a BLE parser (a text-mode board's ``power=3``)
# is more likely a number than on/off.
_NUMERIC_TOO = frozenset(DEVICE_CLASSES) | frozenset(_QUANTITY_ALIASES) | {"gas", "sound"}

# Event quantities as the BLE parser libraries name them -> every event type they fire for it.
EVENT_TYPES: dict[str, tuple[str, ...]] = {
    "button": (
        "press",
        "double_press",
        "triple_press",
        "long_press",
        "long_double_press",
        "long_triple_press",
        "hold_press",
        "hold_release",
    ),
    "dimmer": ("rotate_left", "rotate_right", "rotate_left_pressed", "rotate_right_pressed"),
    "command": ("on", "off", "toggle", "step_up", "step_down"),
}
EVENT_DEVICE_CLASSES = {"button": "button"}

ANOMALY_DEVICE = "anomaly"
FORECAST_DEVICE = "forecast"
BATTERY_DEVICE = "battery"

_OBJECT_ID = re.compile(r"[^a-zA-Z0-9_-]")
_CHANNEL = re.compile(r"_\d+$")  # a parser's second, third... value of one kind: temperature_2


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


class Presentation(NamedTuple):
    """How Home Assistant shows one stream: its component, the payload keys that say so, its states."""

    component: str  # sensor | binary_sensor | event
    fields: dict[str, Any]
    # number (times ``scale``) | label | on_off | event | forecast (a number with its interval as
    # attributes) | anomaly (on while the score is not 0, the expected range as attributes)
    state: str = "number"
    scale: float = 1.0


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

    @property
    def birth(self) -> str:
        """Where Home Assistant says ``online`` when it (re)starts."""
        return f"{self.prefix}/status"


def object_id(name: str) -> str:
    """The plain discovery object id of a stream or switch: '.' and other signs become '_'."""
    return _OBJECT_ID.sub("_", name)


def object_ids(names: Iterable[str]) -> dict[str, str]:
    """A distinct discovery object id for each name, given in the order the names were adopted.

    Each name keeps its plain id (``kitchen_plug.power`` → ``kitchen_plug_power``), as it always
    had, unless an earlier name already holds it (``kitchen.plug_power`` after ``kitchen_plug.power``):
    then the dot is spelled ``__`` (``kitchen__plug_power``), with a counter if even that is taken.
    """
    out: dict[str, str] = {}
    taken: set[str] = set()
    later: list[str] = []
    for name in names:
        if name in out:
            continue
        oid = object_id(name)
        if oid in taken:
            later.append(name)
            out[name] = ""
            continue
        out[name] = oid
        taken.add(oid)
    for name in later:
        device, dot, rest = name.partition(".")
        oid = base = object_id(f"{device}__{rest}") if dot else f"{object_id(name)}_"
        n = 2
        while oid in taken:
            oid = f"{base}_{n}"
            n += 1
        out[name] = oid
        taken.add(oid)
    return out


def normalise_unit(unit: str) -> str:
    """The spelling Home Assistant expects for ``unit`` (``C`` → ``°C``, ``lux`` → ``lx``)."""
    return _UNIT_ALIASES.get(unit.strip(), unit.strip())


def _key(quantity: str) -> str:
    key = _CHANNEL.sub("", quantity.lower())
    return _QUANTITY_ALIASES.get(key, key)


def classify(quantity: str, unit: str) -> dict[str, str]:
    """Device class, unit and state class of a numeric stream; a class only where the unit fits it."""
    return _numeric(quantity, unit).fields


def _numeric(quantity: str, unit: str) -> Presentation:
    unit = normalise_unit(unit)
    out: dict[str, str] = {"state_class": "measurement"}
    scale = 1.0
    entry = DEVICE_CLASSES.get(_key(quantity))
    if entry is not None:
        device_class, units, state_class = entry
        converted = UNIT_CONVERSIONS.get(unit)
        if unit not in units and converted is not None and converted[0] in units:
            unit, scale = converted
        if unit in units:
            if device_class is not None:
                out["device_class"] = device_class
            out["state_class"] = state_class
    if unit:
        out["unit_of_measurement"] = unit
    return Presentation("sensor", out, "number", scale)


def _predicted(entity: StreamEntity) -> Presentation | None:
    """How an anomaly, forecast or battery strand of the prediction feature is shown (None: as any)."""
    if entity.device == ANOMALY_DEVICE:
        return Presentation("binary_sensor", {"device_class": "problem"}, "anomaly")
    if entity.device == FORECAST_DEVICE:
        # forecast.<device>.<quantity>.<horizon>: the class and unit are those of <quantity>.
        numeric = _numeric(entity.quantity.rsplit(".", 2)[-2] if "." in entity.quantity else "", entity.unit)
        fields = {**numeric.fields, "icon": "mdi:crystal-ball"}
        fields.pop("state_class", None)  # a forecast is not a measurement: no long-term statistics of it
        return Presentation("sensor", fields, "forecast", numeric.scale)
    if entity.quantity.endswith(".low"):
        return Presentation("binary_sensor", {"device_class": "battery"}, "on_off")
    return None


def present(entity: StreamEntity) -> Presentation:
    """Which kind of Home Assistant entity a stream is, and the payload keys that say so."""
    if entity.kind == "context":
        return Presentation("sensor", {"icon": "mdi:home-analytics"}, "label")
    if entity.device in (ANOMALY_DEVICE, FORECAST_DEVICE, BATTERY_DEVICE):
        predicted = _predicted(entity)
        if predicted is not None:
            return predicted
    key = _CHANNEL.sub("", entity.quantity.lower())
    if not entity.unit.strip():
        base = key.split("_", 1)[0]
        if base in EVENT_TYPES and entity.device_kind == "ble":
            fields: dict[str, Any] = {"event_types": list(EVENT_TYPES[base])}
            if base in EVENT_DEVICE_CLASSES:
                fields["device_class"] = EVENT_DEVICE_CLASSES[base]
            return Presentation("event", fields, "event")
        if key in BINARY_CLASSES and (entity.device_kind == "ble" or key not in _NUMERIC_TOO):
            device_class = BINARY_CLASSES[key]
            fields = {"device_class": device_class} if device_class else {}
            return Presentation("binary_sensor", fields, "on_off")
    numeric = _numeric(entity.quantity, entity.unit)
    if _key(entity.quantity) == "heart_rate":
        numeric.fields["icon"] = "mdi:heart-pulse"
    return numeric


def device_block(topics: Topics, name: str, kind: str) -> dict[str, Any]:
    """The ``device`` of every entity of hub device ``name``: one description per device."""
    return {
        "identifiers": [f"hearth_{topics.hub_id}_{name}"],
        "name": name,
        "manufacturer": "Hearth",
        "model": f"{kind} device",
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


def stream_config(
    topics: Topics, entity: StreamEntity, oid: str, device: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The retained discovery topic and payload of one stream's entity (``oid`` from ``object_ids``)."""
    shown = present(entity)
    payload = {
        **_common(topics, oid),
        "name": entity.quantity.replace("_", " ").capitalize(),
        "state_topic": topics.state(entity.stream),
        "device": device,
        **shown.fields,
    }
    if shown.state in ("label", "forecast", "anomaly"):
        payload["json_attributes_topic"] = topics.attributes(entity.stream)
    return topics.config(shown.component, oid), payload


def switch_config(
    topics: Topics, switch: SwitchEntity, oid: str, device: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The retained discovery topic and payload of one board actuator's switch entity."""
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
        "device": device,
    }
    return topics.config("switch", oid), payload


def state_payload(shown: Presentation, value: float, label: str | None) -> str | None:
    """The state message of a reading as ``shown``; None where there is nothing to say."""
    if shown.state == "event":  # Home Assistant drops, with a warning, a type it was not told of
        return json.dumps({"event_type": label}) if label in shown.fields["event_types"] else None
    if shown.state == "on_off":
        return "ON" if value or label else "OFF"
    if shown.state == "anomaly":
        return "ON" if value else "OFF"
    if shown.state == "label":
        return label or ""
    if shown.scale != 1.0:
        value = float(f"{value * shown.scale:.12g}")
    return repr(value).removesuffix(".0")
