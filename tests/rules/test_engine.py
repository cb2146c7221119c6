"""Rule semantics, on the pure engine with a fake clock: readings and times in, intents out."""

from __future__ import annotations

import random
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest

from agent.config.schema import RuleConfig
from agent.demo import demo_config
from agent.readings import Reading
from agent.rules.engine import RuleEngine, parse_window
from agent.rules.replay import replay
from agent.sources.simulated import load_table

T0 = 1_780_000_000.0  # a Thursday in May 2026


def rule(when: dict[str, Any], name: str = "r") -> RuleConfig:
    return msgspec.convert(
        {"name": name, "when": when, "actions": [{"kind": "log", "message": "fired"}]}, RuleConfig
    )


def engine(*rules: RuleConfig, tz: str = "UTC") -> RuleEngine:
    return RuleEngine(list(rules), tz)


def fired_at(eng: RuleEngine, readings: list[Reading]) -> list[float]:
    return [i.ts for i in eng.feed_many(readings)]


def test_hysteresis_does_not_chatter_on_a_noisy_signal() -> None:
    rng = random.Random(8)
    # A signal wandering +-30 around the 1500 threshold for a while, then clearly off, then on again.
    noisy = [1500 + rng.uniform(-30, 30) for _ in range(200)]
    values = [100.0] * 5 + noisy + [100.0] * 5 + [1900.0] * 5
    readings = [Reading("plug.power", T0 + i, v) for i, v in enumerate(values)]

    steady = engine(rule({"stream": "plug.power", "above": 1500, "hysteresis": 100}))
    chattering = engine(rule({"stream": "plug.power", "above": 1500}))

    assert len(fired_at(steady, readings)) == 2  # once into the noise, once after the clear drop
    assert len(fired_at(chattering, readings)) > 20


def test_below_with_hysteresis_turns_off_only_past_the_band() -> None:
    eng = engine(rule({"stream": "room.temperature", "below": 18, "hysteresis": 0.5}))
    values = [19, 17.9, 18.2, 17.8, 18.4, 17.5, 18.5, 17.9]
    fired = fired_at(eng, [Reading("room.temperature", T0 + i, v) for i, v in enumerate(values)])
    assert fired == [T0 + 1, T0 + 7]  # 18.5 (= 18 + band) turned it off; 17.9 then fired again


def test_for_duration_resets_when_the_condition_drops() -> None:
    eng = engine(rule({"stream": "plug.power", "above": 1500, "for": "10s"}))
    high, low = 1950.0, 3.0
    # 8 s high, one low reading, 8 s high again: never 10 s without a break.
    values = [high] * 9 + [low] + [high] * 9
    readings = [Reading("plug.power", T0 + i, v) for i, v in enumerate(values)]
    assert eng.feed_many(readings) == []
    assert eng.tick(T0 + 18.5) == []
    # Time alone completes it: 10 s after the second rise at T0 + 10, with no new reading.
    assert eng.next_wakeup() == T0 + 20
    assert eng.tick(T0 + 19.99) == []
    [intent] = eng.tick(T0 + 20)
    assert intent.rule == "r"
    assert intent.ts == T0 + 20
    assert eng.next_wakeup() is None
    assert eng.tick(T0 + 60) == []  # fires once per rising edge


def test_for_duration_fires_on_a_reading_at_or_after_the_deadline() -> None:
    eng = engine(rule({"stream": "plug.power", "above": 1500, "for": "10s"}))
    readings = [Reading("plug.power", T0 + 2 * i, 1950.0) for i in range(8)]
    assert fired_at(eng, readings) == [T0 + 10]


def berlin(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("Europe/Berlin")).timestamp()


@pytest.mark.parametrize(
    ("local_time", "inside"),
    [
        ("2026-01-15 07:30", True),
        ("2026-01-15 06:59", False),
        ("2026-01-15 08:00", False),
        ("2026-07-15 07:30", True),
        # Around the spring-forward night (2026-03-29, 02:00 -> 03:00 local).
        ("2026-03-28 07:30", True),
        ("2026-03-29 07:30", True),
        ("2026-03-29 06:30", False),
    ],
)
def test_time_window_honours_the_hubs_time_zone(local_time: str, inside: bool) -> None:
    eng = engine(rule({"during": "07:00-08:00"}), tz="Europe/Berlin")
    assert bool(eng.tick(berlin(local_time))) is inside


def test_time_window_across_the_dst_change_follows_local_clock_not_utc() -> None:
    """07:00-08:00 in Berlin is 06:00 UTC in winter and 05:00 UTC in summer."""
    eng = engine(rule({"during": "07:00-08:00"}), tz="Europe/Berlin")
    utc = ZoneInfo("UTC")
    before = datetime(2026, 3, 28, 6, 30, tzinfo=utc).timestamp()  # 07:30 CET
    after = datetime(2026, 3, 29, 6, 30, tzinfo=utc).timestamp()  # 08:30 CEST
    assert eng.tick(before)
    assert eng.tick(after) == []
    assert eng.tick(datetime(2026, 3, 30, 5, 30, tzinfo=utc).timestamp())  # 07:30 CEST


def test_time_window_wrapping_midnight_and_the_fall_back_hour() -> None:
    eng = engine(rule({"during": "22:00-06:00"}), tz="Europe/Berlin")
    # 2026-10-25: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice, inside both times.
    first = datetime(2026, 10, 25, 0, 30, tzinfo=ZoneInfo("UTC")).timestamp()  # 02:30 CEST
    second = first + 3600  # 02:30 CET
    assert eng.tick(berlin("2026-10-24 21:59")) == []
    assert eng.tick(berlin("2026-10-24 22:00"))
    assert eng.tick(first) == []  # still inside: no new rising edge
    assert eng.tick(second) == []
    assert eng.tick(berlin("2026-10-25 06:00")) == []
    assert eng.tick(berlin("2026-10-25 22:10"))


def test_next_wakeup_for_time_windows_is_the_next_minute() -> None:
    eng = engine(rule({"during": "07:00-08:00"}))
    eng.tick(T0 + 5)
    wake = eng.next_wakeup()
    assert wake is not None
    assert wake % 60 == 0
    assert T0 + 5 < wake <= T0 + 65


def test_all_any_not_combine() -> None:
    when = {
        "all": [
            {"stream": "plug.power", "above": 1500},
            {"any": [{"stream": "room.presence", "equals": 1}, {"stream": "room.door", "equals": 1}]},
            {"not": {"stream": "room.temperature", "above": 30}},
        ]
    }
    eng = engine(rule(when))
    assert eng.feed(Reading("plug.power", T0, 1900)) == []  # nobody there
    assert eng.feed(Reading("room.door", T0 + 1, 1))  # door open: all three hold
    assert eng.feed(Reading("room.presence", T0 + 2, 1)) == []  # still true: no new edge
    assert eng.feed(Reading("room.temperature", T0 + 3, 35)) == []  # the 'not' fails now
    assert eng.feed(Reading("room.temperature", T0 + 4, 20))  # true again: a new edge


def test_for_inside_a_combination() -> None:
    when = {"all": [{"stream": "plug.power", "above": 1500, "for": "5s"}, {"during": "00:00-24:00"}]}
    eng = engine(rule(when))
    assert eng.feed(Reading("plug.power", T0, 1900)) == []
    assert eng.tick(T0 + 4) == []
    assert eng.tick(T0 + 5)


def test_changes_to_fires_on_the_transition_only() -> None:
    eng = engine(rule({"stream": "context.appliance", "changes_to": "kettle", "min_confidence": 0.6}))
    labels = [
        ("kettle", 0.9),
        ("idle", 0.8),
        ("kettle", 0.9),
        ("kettle", 0.95),
        ("kettle", 0.4),
        ("kettle", 0.9),
    ]
    readings = [Reading("context.appliance", T0 + i, c, lab) for i, (lab, c) in enumerate(labels)]
    # The first reading has no "before"; a low-confidence kettle counts as not-kettle.
    assert fired_at(eng, readings) == [T0 + 2, T0 + 5]


def test_equals_on_a_context_strand_for_a_duration() -> None:
    eng = engine(rule({"stream": "context.appliance", "equals": "kettle", "for": "10s"}))
    readings = [Reading("context.appliance", T0 + i, 0.9, "kettle") for i in range(12)]
    assert fired_at(eng, readings) == [T0 + 10]


def test_readings_of_other_streams_do_not_touch_a_rule() -> None:
    eng = engine(rule({"stream": "plug.power", "above": 1500}))
    assert eng.feed_many([Reading("room.temperature", T0, 2000)]) == []
    assert eng.streams == {"plug.power"}


def test_disabled_rules_never_fire() -> None:
    config = msgspec.structs.replace(rule({"stream": "plug.power", "above": 1}), enabled=False)
    assert engine(config).feed(Reading("plug.power", T0, 5)) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [("07:00-08:00", (420, 480)), ("22:00-06:00", (1320, 360)), ("00:00-24:00", (0, 1440))],
)
def test_parse_window(text: str, expected: tuple[int, int]) -> None:
    assert parse_window(text) == expected


@pytest.mark.parametrize("text", ["7-8", "07:00", "25:00-26:00", "07:00-07:00", "07:60-08:00", "ab:cd-08:00"])
def test_parse_window_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"HH:MM|empty|no such time"):
        parse_window(text)


def test_a_for_rule_fired_by_time_carries_its_latest_reading() -> None:
    eng = engine(rule({"stream": "plug.power", "above": 1500, "for": "10s"}))
    eng.feed(Reading("plug.power", T0, 1950.0))
    [intent] = eng.tick(T0 + 10)
    assert intent.trigger == Reading("plug.power", T0, 1950.0)


def test_the_demo_rule_fires_once_per_boil_of_the_shipped_kettle_data(tmp_path: Path) -> None:
    config = demo_config(tmp_path)
    table = load_table("kitchen_plug", "builtin:kettle_plug.csv")
    rate = config.sources[1].rate
    readings = [Reading("kitchen_plug.power", T0 + i / rate, row[0]) for i, row in enumerate(table.rows)]
    fired = list(replay(RuleEngine(config.rules, config.hub.timezone), readings))
    # Two boils in the data; the first one is found 10 s after it passes 1500 W (within a 30 s demo).
    assert [i.rule for i in fired] == ["kettle-on", "kettle-on"]
    assert fired[0].ts - T0 < 30
