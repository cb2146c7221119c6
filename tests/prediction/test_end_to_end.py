"""A running hub with a real Mosquitto: forecasts act before the fact, faults and flat batteries are told.

Ten days of history are in the readings file when the hub starts; then its sources feed the next hours
(stamped hour by hour, faster than real time). The hub must: warn to pre-heat while the bedroom is still
warm because its forecast goes below 18 °C within 2 h; report a freezer fault as an anomaly and act on
it, first as hours outside the forecast interval, then as a part of the day unlike the same part of
the days before; estimate the porch sensor's battery and say it is low; show all of it to Home
Assistant on the local broker; and send none of it upstream, where nothing is granted.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from agent.prediction.service import Prediction
from agent.prediction.strands import STEPS, anomaly_kind, parse_expected
from agent.readings import Reading, StreamInfo
from agent.store.readings import open_readings
from tests.conftest import eventually
from tests.rules.conftest import (  # the real Mosquitto fixtures, shared with the rules tests
    HandSource,
    hub_config,
    mosquitto,  # noqa: F401
    mosquitto_server,  # noqa: F401
    running,
    watching,
)

HOUR = 3600.0
# The start of the hub's (UTC) part of the day in progress: the open door below then ends that part after the
# interval anomaly has lasted its two hours, whatever the hour the test runs at, so the first alert is the
# interval's (with NOW on any hour the part could end first and fire the rule itself).
NOW = math.floor(time.time() / (6 * HOUR)) * 6 * HOUR
BASE = "hearth/test-hub"


def bedroom(ts: float) -> float:
    """Warmest (23 °C) at NOW each day, coldest (17 °C) twelve hours later."""
    return 20.0 + 3.0 * math.cos(2 * math.pi * (ts - NOW) / 86400)


def freezer(ts: float) -> float:
    return 80.0 + 4.0 * math.cos(2 * math.pi * (ts - NOW) / 86400)


def anomaly_events(data: Path) -> list[tuple[float, float, str]]:
    """(ts, score, label) of the freezer's anomaly events on file."""
    store = open_readings(data, read_only=True)
    try:
        return store.conn.execute(
            "SELECT r.ts, r.value, r.label FROM readings r JOIN streams s ON s.id = r.stream_id"
            " WHERE s.name = 'anomaly.freezer.power' ORDER BY r.key"
        ).fetchall()
    finally:
        store.close()


def fill_history(data: Path, days: int = 10) -> None:
    store = open_readings(data)
    readings = []
    start = NOW - days * 86400
    for i in range(days * 24 * 3):
        ts = start + i * 1200
        wobble = 0.05 * math.sin(i * 7.3)
        readings += [
            Reading("bedroom.temperature", ts, bedroom(ts) + wobble),
            Reading("freezer.power", ts, freezer(ts) + 20 * wobble),
            Reading("porch.battery", ts, round(40 - 2 * (ts - start) / 86400)),  # 20 % left at the end
        ]
    store.write_batch(
        readings,
        [
            ("simulated", StreamInfo.of("bedroom", "temperature", "°C")),
            ("simulated", StreamInfo.of("freezer", "power", "W")),
            ("simulated", StreamInfo.of("porch", "battery", "%")),
        ],
    )
    store.close()


async def test_forecast_rule_fires_before_the_fact_and_nothing_goes_upstream(
    tmp_path: Path,
    mosquitto: int,  # noqa: F811 - the fixture imported above
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    fill_history(data)
    config = hub_config(
        data,
        prediction={
            "streams": ["bedroom.temperature", "freezer.power"],
            "horizons": ["1h", "2h"],
            "anomaly_min_duration": "2h",
            "battery_warning_days": 14,
        },
        local_mqtt={
            "host": "127.0.0.1",
            "port": mosquitto,
            "state_interval": "50ms",
            "discovery_every": "200ms",
        },
        upstream={"host": "127.0.0.1", "port": mosquitto, "tls": False, "summarise_interval": "1s"},
        rules=[
            {
                "name": "preheat",
                "when": {"forecast": "bedroom.temperature", "below": 18, "within": "2h"},
                "actions": [{"kind": "publish", "topic": "home/bedroom/preheat", "payload": "{ts} {value}"}],
            },
            {
                "name": "freezer-fault",
                "when": {"stream": "anomaly.freezer.power", "above": 0},
                "actions": [{"kind": "publish", "topic": "home/freezer/alert", "payload": "{ts} {label}"}],
            },
        ],
    )
    home = HandSource(
        "home", [StreamInfo.of("bedroom", "temperature", "°C"), StreamInfo.of("freezer", "power", "W")]
    )
    fed: list[tuple[float, float]] = []
    async with (
        watching(mosquitto, "home/#", "homeassistant/#", "hearth/#") as broker,
        running(config, home) as agent,
    ):
        prediction = agent.features["prediction"]
        assert isinstance(prediction, Prediction)
        await home.ready.wait()
        await eventually(prediction.ready.is_set, "the history to be learned")
        for hour in range(13):
            for minute in (0, 20, 40):
                ts = NOW + hour * HOUR + minute * 60
                fed.append((ts, bedroom(ts)))
                home.feed("bedroom.temperature", bedroom(ts), ts=ts)
                fault = 150.0 if 3 <= hour <= 6 else 0.0  # the door left open for four hours
                home.feed("freezer.power", freezer(ts) + fault, ts=ts)
        await eventually(lambda: "home/bedroom/preheat" in broker.last, "the pre-heat warning", within=20)
        await eventually(lambda: "home/freezer/alert" in broker.last, "the freezer alert", within=20)
        anomaly_attributes = f"{BASE}/state/anomaly.freezer.power/attributes"

        def part_kinds() -> list[str]:
            found = [json.loads(p) for t, p in broker.history if t == anomaly_attributes]
            return [attributes["kind"] for attributes in found if attributes["kind"] != STEPS]

        # Home Assistant sees the part of the day that was out, with its kind.
        await eventually(part_kinds, "the day-pattern anomaly's kind as an attribute", within=20)
        forecast_config = "homeassistant/sensor/test-hub/forecast_bedroom_temperature_2h/config"
        attributes = f"{BASE}/state/forecast.bedroom.temperature.2h/attributes"
        await eventually(lambda: forecast_config in broker.last, "the forecast sensor's discovery")
        await eventually(lambda: attributes in broker.last, "the forecast's interval as attributes")
        anomaly_topic = "homeassistant/binary_sensor/test-hub/anomaly_freezer_power/config"
        await eventually(lambda: anomaly_topic in broker.last, "the anomaly's binary sensor")
        low_battery = f"{BASE}/state/battery.porch.low"
        await eventually(lambda: broker.last.get(low_battery) == b"ON", "the low-battery warning")
        await eventually(lambda: broker.last.get("hearth/v1/test-hub/status") == b"online", "upstream online")

    fired_ts, fired_value = broker.last["home/bedroom/preheat"].decode().split()
    crossed = next(ts for ts, value in fed if value < 18)
    # It fired before the bedroom got below 18 °C, while it was still comfortably above it.
    assert float(fired_ts) < crossed
    assert float(fired_value) < 18
    assert all(value >= 18.3 for ts, value in fed if ts <= float(fired_ts))

    alerts = [p.decode().split(" ", 1) for t, p in broker.history if t == "home/freezer/alert"]
    alert_ts, label = alerts[0]
    assert NOW + 4 * HOUR <= float(alert_ts) <= NOW + 6 * HOUR  # two faulty hours after it began
    assert label.startswith("expected ")
    assert anomaly_kind(label) == STEPS
    # A part of the day with the open door, against the same part of the days before, once it ended (the
    # rule does not fire again for it while the steps' anomaly is still on: it fires when it turns on).
    parts_out = [row for row in anomaly_events(data) if row[1] > 0 and anomaly_kind(row[2]) != STEPS]
    assert set(part_kinds()) <= {anomaly_kind(label) for _, _, label in parts_out}
    part_end, _score, part_label = parts_out[0]
    assert NOW + 4 * HOUR <= part_end <= NOW + 13 * HOUR
    assert anomaly_kind(part_label) in ("night", "morning", "afternoon", "evening")
    # Ten days on file; the first one's part may have been seen too little to count.
    assert part_label.endswith((" against 9 days", " against 10 days"))
    expected_low, expected_high = parse_expected(part_label) or (0, 0)
    usual = sum(freezer(part_end - 6 * HOUR + i * 1200) for i in range(18)) / 18  # that part on other days
    assert usual - 5 < expected_low < usual < expected_high < usual + 5

    sensor = json.loads(broker.last[forecast_config])
    assert sensor["unit_of_measurement"] == "°C"
    assert sensor["device_class"] == "temperature"
    assert sensor["json_attributes_topic"] == attributes
    interval = json.loads(broker.last[attributes])
    assert interval["level"] == 0.8
    assert (
        interval["low"]
        < float(broker.last[f"{BASE}/state/forecast.bedroom.temperature.2h"])
        < interval["high"]
    )
    anomaly_config = json.loads(broker.last[anomaly_topic])
    assert anomaly_config["device_class"] == "problem"
    days_left = float(broker.last[f"{BASE}/state/battery.porch.days_left"])
    assert 8 < days_left < 12  # 20 % left at 2 % a day

    # Upstream: the hub connected and said so, and sent nothing else (nothing is granted).
    upstream = {t for t in broker.last if t.startswith("hearth/v1/")}
    assert upstream == {"hearth/v1/test-hub/status"}
