"""Rules on forecasts and anomalies: "forecast below 18 within 2h" fires before the value gets there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from agent.config import parse_config
from agent.config.schema import RuleConfig
from agent.errors import ConfigError
from agent.readings import Reading
from agent.rules.engine import RuleEngine
from tests.conftest import hearth

T0 = 1_780_000_000.0
HOUR = 3600.0


def rule(when: dict[str, Any]) -> RuleConfig:
    return msgspec.convert(
        {"name": "preheat", "when": when, "actions": [{"kind": "log", "message": "{stream} {value}"}]},
        RuleConfig,
    )


def forecasts(ts: float, **by_horizon: float) -> list[Reading]:
    return [
        Reading(f"forecast.bedroom.temperature.{h}", ts, value, "80% 1..2") for h, value in by_horizon.items()
    ]


def test_a_forecast_below_the_threshold_within_the_window_fires_once() -> None:
    engine = RuleEngine([rule({"forecast": "bedroom.temperature", "below": 18, "within": "2h"})])
    assert engine.watches("forecast.bedroom.temperature.6h")
    readings = [
        Reading("bedroom.temperature", T0, 19.5),
        *forecasts(T0, **{"1h": 19.0, "2h": 18.4, "6h": 16.0}),  # only 6 h ahead: too far
        *forecasts(T0 + HOUR, **{"1h": 18.6, "2h": 17.8, "6h": 16.2}),  # 2 h ahead: fire now
        *forecasts(T0 + 2 * HOUR, **{"1h": 17.9, "2h": 17.5, "6h": 16.9}),  # still below: no second firing
        *forecasts(T0 + 3 * HOUR, **{"1h": 18.9, "2h": 19.2, "6h": 17.0}),  # back over
        *forecasts(T0 + 4 * HOUR, **{"1h": 17.0, "2h": 17.0, "6h": 17.0}),  # below again: fires again
    ]
    fired = engine.feed_many(readings)
    assert [(i.ts, i.trigger.stream if i.trigger else None) for i in fired] == [
        (T0 + HOUR, "forecast.bedroom.temperature.2h"),
        (T0 + 4 * HOUR, "forecast.bedroom.temperature.1h"),
    ]


def test_above_looks_at_the_forecasts_too_and_ignores_other_streams() -> None:
    engine = RuleEngine([rule({"forecast": "bedroom.temperature", "above": 25, "within": "1h"})])
    assert not engine.watches("forecast.kitchen.temperature.1h")
    fired = engine.feed_many(
        [
            Reading("forecast.kitchen.temperature.1h", T0, 30.0),
            *forecasts(T0, **{"2h": 26.0}),
            *forecasts(T0 + 1, **{"1h": 25.5}),
        ]
    )
    assert [i.ts for i in fired] == [T0 + 1]


def test_an_anomaly_event_is_a_stream_test_on_its_score() -> None:
    engine = RuleEngine([rule({"stream": "anomaly.freezer.power", "above": 0, "for": "10m"})])
    fired = engine.feed_many(
        [
            Reading("anomaly.freezer.power", T0, 2.4, "expected 3..5, saw 9"),
            Reading("anomaly.freezer.power", T0 + 300, 0.0, "expected 3..5, saw 4"),  # over before 10 min
            Reading("anomaly.freezer.power", T0 + 900, 3.1, "expected 3..5, saw 11"),
        ]
    )
    assert fired == []
    assert [i.ts for i in engine.tick(T0 + 900 + 600)] == [T0 + 1500]


HEAD = """
[hub]
id = "home"
data_dir = "/tmp/unused"

[[sources]]
kind = "simulated"
name = "kitchen_plug"
file = "builtin:kettle_plug.csv"
"""
PREDICTION = '[prediction]\nstreams = ["kitchen_plug.power"]\n'


@pytest.mark.parametrize(
    ("extra", "when", "message", "key"),
    [
        pytest.param(
            "",
            'forecast = "kitchen_plug.power", below = 10, within = "2h"',
            "no forecast of 'kitchen_plug.power'",
            "rules[0].when.forecast",
            id="no-prediction",
        ),
        pytest.param(
            PREDICTION,
            'forecast = "kitchen_plug.power", below = 10',
            "needs 'within'",
            "rules[0].when.within",
            id="no-within",
        ),
        pytest.param(
            PREDICTION,
            'forecast = "kitchen_plug.power", equals = 10, within = "1h"',
            "exactly one of above, below",
            "rules[0].when",
            id="equals",
        ),
        pytest.param(
            PREDICTION,
            'stream = "kitchen_plug.power", below = 10, within = "1h"',
            "'within' applies only to a forecast test",
            "rules[0].when.within",
            id="within-on-a-stream",
        ),
        pytest.param(
            PREDICTION,
            'forecast = "kitchen_plug.power", stream = "kitchen_plug.power", below = 10, within = "1h"',
            "exactly one of stream, forecast",
            "rules[0].when",
            id="stream-and-forecast",
        ),
    ],
)
def test_a_bad_forecast_condition_names_the_rule_and_key(
    extra: str, when: str, message: str, key: str
) -> None:
    text = (
        HEAD
        + extra
        + f'[[rules]]\nname = "cold"\nwhen = {{ {when} }}\nactions = [{{ kind = "log", message = "x" }}]\n'
    )
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="hub.toml")
    assert "rule 'cold'" in str(info.value)
    assert message in str(info.value)
    assert key in str(info.value)


def test_forecast_and_anomaly_conditions_pass_with_prediction() -> None:
    text = (
        HEAD
        + PREDICTION
        + (
            '[[rules]]\nname = "cold"\n'
            'when = { forecast = "kitchen_plug.power", below = 10, within = "2h" }\n'
            'actions = [{ kind = "log", message = "x" }]\n'
            '[[rules]]\nname = "odd"\nwhen = { stream = "anomaly.kitchen_plug.power", above = 0 }\n'
            'actions = [{ kind = "log", message = "x" }]\n'
        )
    )
    assert [r.name for r in parse_config(text).rules] == ["cold", "odd"]


def test_rules_test_replays_forecast_strands(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text(
        HEAD + PREDICTION + '[[rules]]\nname = "low-draw"\n'
        'when = { forecast = "kitchen_plug.power", below = 10, within = "2h" }\n'
        'actions = [{ kind = "log", message = "x" }]\n'
    )
    data = tmp_path / "forecasts.csv"
    data.write_text(
        "ts,stream,value,label\n"
        "1780000000,kitchen_plug.power,40,\n"
        '1780000000,forecast.kitchen_plug.power.2h,25,"80% 12..38"\n'
        '1780003600,forecast.kitchen_plug.power.2h,8,"80% 2..14"\n'
        '1780003600,forecast.kitchen_plug.power.6h,3,"80% 0..9"\n'
    )
    result = hearth("rules", "test", "-c", str(config), str(data), env_extra={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert "1 actions from 4 readings" in result.stdout
    assert "forecast.kitchen_plug.power.2h = 8" in result.stdout
    assert "no rule reads: kitchen_plug.power" in result.stdout
    listed = hearth("rules", "list", "-c", str(config), env_extra={"COLUMNS": "200"})
    assert "forecast of kitchen_plug.power < 10 within 2h" in listed.stdout
