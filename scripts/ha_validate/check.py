"""Check Hearth's discovery payloads with Home Assistant's own code (run inside a Home Assistant env).

Reads ``payloads.py``'s JSON on stdin. For each entity, as Home Assistant's MQTT discovery does: the
topic must match its discovery topic pattern and name a supported component; abbreviations are
expanded; the origin must pass its schema; the payload must pass the component's DISCOVERY_SCHEMA
with no key silently dropped. Then every sample state goes through the component's own rules: for a
sensor, ``SensorEntity.state`` (numeric value, unit valid for the device class, state class possible
for it: any warning it logs counts as a failure); for binary sensors, switches and events, the state
must be one the entity accepts. Prints one line per failure and a JSON summary; exits 1 on failure.
"""

from __future__ import annotations

import copy
import json
import logging
import sys
import types
from typing import Any

# Imported first: in 2023.x importing the MQTT integration straight away runs into an import cycle
# (websocket_api -> http -> persistent_notification -> websocket_api) that Home Assistant's own
# start-up order avoids.
import homeassistant.components.persistent_notification  # noqa: F401
from homeassistant.components.mqtt import abbreviations, discovery
from homeassistant.components.sensor import SensorEntity
from homeassistant.const import __version__ as ha_version
from homeassistant.util.unit_system import METRIC_SYSTEM


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def expand(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with abbreviated keys expanded, as ``mqtt/discovery.py`` does it."""
    out = {abbreviations.ABBREVIATIONS.get(k, k): v for k, v in copy.deepcopy(payload).items()}
    if isinstance(out.get("device"), dict):
        out["device"] = {abbreviations.DEVICE_ABBREVIATIONS.get(k, k): v for k, v in out["device"].items()}
    origin = getattr(abbreviations, "ORIGIN_ABBREVIATIONS", None)
    if isinstance(out.get("origin"), dict) and origin is not None:
        out["origin"] = {origin.get(k, k): v for k, v in out["origin"].items()}
    return out


# Keys a release may not know yet and ignores without harm: ``origin`` only names the software that
# sent the payload (for Home Assistant's logs); releases before it existed drop it.
_INFORMATIONAL = {"origin"}


class _Probe(SensorEntity):
    """A sensor entity with a discovered entity's classes, fed one state."""

    def __init__(self, config: dict[str, Any], state: str) -> None:
        self.entity_id = "sensor.hearth_probe"
        self.hass = types.SimpleNamespace(config=types.SimpleNamespace(units=METRIC_SYSTEM))  # type: ignore[assignment]
        self._attr_device_class = config.get("device_class")
        self._attr_native_unit_of_measurement = config.get("unit_of_measurement")
        self._attr_state_class = config.get("state_class")
        self._attr_native_value = state

    def _suggest_report_issue(self) -> str:
        return "report it"


def check_sensor(config: dict[str, Any], state: str, log: _Collect) -> list[str]:
    log.messages.clear()
    try:
        _Probe(config, state).state  # noqa: B018 - the property runs Home Assistant's checks
    except ValueError as exc:
        return [str(exc)]
    return list(log.messages)


def check(item: dict[str, Any], prefix: str, log: _Collect) -> list[str]:
    topic: str = item["topic"]
    match = discovery.TOPIC_MATCHER.match(topic.removeprefix(f"{prefix}/"))
    if not topic.startswith(f"{prefix}/") or match is None:
        return [f"illegal discovery topic {topic}"]
    component = match.group(1)
    if component not in discovery.SUPPORTED_COMPONENTS:
        return [f"component {component} is not supported"]
    payload = expand(item["payload"])
    origin_schema = getattr(discovery, "MQTT_ORIGIN_INFO_SCHEMA", None)
    try:
        if origin_schema is not None:
            origin_schema(payload["origin"])
    except Exception as exc:  # noqa: BLE001 - Home Assistant rejects the message on any error here
        return [f"origin: {exc}"]
    module = __import__(f"homeassistant.components.mqtt.{component}", fromlist=["DISCOVERY_SCHEMA"])
    try:
        config = module.DISCOVERY_SCHEMA({**payload, "platform": "mqtt"})
    except Exception as exc:  # noqa: BLE001 - voluptuous.Invalid and whatever a validator raised
        return [f"schema: {exc}"]
    unknown = [k for k in payload if k not in config]
    problems = [f"key {k!r} is not in the schema: ignored" for k in unknown if k not in _INFORMATIONAL]
    for state in item["states"]:
        if component == "sensor":
            problems += check_sensor(config, state, log)
        elif component == "binary_sensor" and state not in (config["payload_on"], config["payload_off"]):
            problems.append(f"state {state!r} is neither payload_on nor payload_off")
        elif component == "switch" and state not in (config["state_on"], config["state_off"]):
            problems.append(f"state {state!r} is neither state_on nor state_off")
        elif component == "event" and json.loads(state).get("event_type") not in config["event_types"]:
            problems.append(f"event {state!r} is not one of event_types")
    return list(dict.fromkeys(problems))  # a unit or class problem shows with every state: once


def main() -> int:
    data = json.load(sys.stdin)
    log = _Collect()
    logging.getLogger("homeassistant.components.sensor").addHandler(log)
    failures = 0
    components: dict[str, int] = {}
    for item in data["entities"]:
        components[item["topic"].split("/")[1]] = components.get(item["topic"].split("/")[1], 0) + 1
        for problem in check(item, "homeassistant", log):
            failures += 1
            print(f"FAIL {item['topic']} ({item['what']}): {problem}")
    summary = {
        "home_assistant": ha_version,
        "entities": len(data["entities"]),
        "states": sum(len(i["states"]) for i in data["entities"]),
        "components": components,
        "failures": failures,
    }
    print(json.dumps(summary))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
