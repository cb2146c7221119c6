"""The strand format of forecasts, anomalies and batteries, and how Home Assistant is shown them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.consent.strands import check_pattern, matches
from agent.local.discovery import StreamEntity, present, state_payload
from agent.prediction import strands


@pytest.mark.parametrize(
    ("seconds", "name"), [(3600, "1h"), (7200, "2h"), (5400, "90m"), (86400, "1d"), (45, "45s")]
)
def test_horizon_names_round_trip(seconds: float, name: str) -> None:
    assert strands.horizon_name(seconds) == name
    assert strands.horizon_seconds(name) == seconds
    strand = strands.forecast_strand("bedroom.temperature", seconds)
    assert strand == f"forecast.bedroom.temperature.{name}"
    assert strands.parse_forecast_strand(strand) == ("bedroom.temperature", seconds)


@pytest.mark.parametrize(
    "strand", ["bedroom.temperature", "forecast.bedroom", "forecast.bedroom.temperature.soon", "anomaly.x.y"]
)
def test_what_is_not_a_forecast_strand(strand: str) -> None:
    assert strands.parse_forecast_strand(strand) is None


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@given(finite, finite, st.sampled_from([0.5, 0.8, 0.9, 0.95]))
def test_interval_labels_round_trip(low: float, high: float, level: float) -> None:
    parsed = strands.parse_interval(strands.interval_label(level, low, high))
    assert parsed is not None
    assert parsed.level == level
    assert parsed.low == pytest.approx(low, rel=1e-5, abs=1e-5)
    assert parsed.high == pytest.approx(high, rel=1e-5, abs=1e-5)


def test_anomaly_labels_carry_the_expected_range() -> None:
    label = strands.expected_label(3.25, 5.5, 9.0)
    assert label == "expected 3.25..5.5, saw 9"
    assert strands.attributes("anomaly.freezer.power", label) == {
        "expected_low": 3.25,
        "expected_high": 5.5,
        "kind": "steps",
    }
    part = strands.pattern_label(61.25, 70.5, 83.0, "evening", 28)
    assert part == "expected 61.25..70.5, saw 83; evening against 28 days"
    assert strands.parse_expected(part) == (61.25, 70.5)
    assert strands.anomaly_kind(part) == "evening"
    assert strands.anomaly_kind(strands.pattern_label(1, 2, 3, "16-24h", 9)) == "16-24h"
    assert strands.attributes("anomaly.freezer.power", part) == {
        "expected_low": 61.25,
        "expected_high": 70.5,
        "kind": "evening",
    }
    assert strands.attributes("forecast.a.b.1h", "80% -1..2") == {"level": 0.8, "low": -1.0, "high": 2.0}
    assert strands.attributes("forecast.a.b.1h", None) is None


def test_a_grant_names_prediction_strands_on_their_own() -> None:
    strand = strands.forecast_strand("bedroom.temperature", 7200)
    assert check_pattern("forecast.bedroom.temperature.*") == "forecast.bedroom.temperature.*"
    assert matches("forecast.bedroom.temperature.*", strand)
    assert not matches("bedroom.*", strand)  # a grant on the raw stream does not carry its forecasts
    assert not matches("forecast.*", strand)  # '*' stays within one part
    assert matches("*", strand)


def entity(stream: str, unit: str = "") -> StreamEntity:
    device, _, quantity = stream.partition(".")
    return StreamEntity(stream, device, "prediction", quantity, unit, "sensor")


def test_home_assistant_presentation() -> None:
    forecast = present(entity("forecast.bedroom.temperature.2h", "°C"))
    assert forecast.component == "sensor"
    assert forecast.fields["device_class"] == "temperature"
    assert "state_class" not in forecast.fields  # not a measurement: no long-term statistics
    assert state_payload(forecast, 17.5, "80% 16..19") == "17.5"
    anomaly = present(entity("anomaly.freezer.power"))
    assert (anomaly.component, anomaly.fields["device_class"]) == ("binary_sensor", "problem")
    assert state_payload(anomaly, 2.4, "expected 3..5, saw 9") == "ON"
    assert state_payload(anomaly, 0.0, "expected 3..5, saw 4") == "OFF"  # the label alone is not a problem
    low = present(entity("battery.porch.low"))
    assert (low.component, low.fields["device_class"]) == ("binary_sensor", "battery")
    days = present(entity("battery.porch.days_left", "d"))
    assert (days.component, days.fields["unit_of_measurement"]) == ("sensor", "d")
