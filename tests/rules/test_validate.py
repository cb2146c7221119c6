"""Rules are checked when the config is: a wrong rule is exit 2 with its name and key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import load_config, parse_config
from agent.errors import ConfigError
from tests.conftest import hearth

HEAD = """
[hub]
id = "home"
data_dir = "/tmp/unused"
timezone = "Europe/Berlin"

[[sources]]
kind = "simulated"
name = "kitchen_plug"
file = "builtin:kettle_plug.csv"
"""

GOOD_RULE = """
[[rules]]
name = "kettle-on"
when = { stream = "kitchen_plug.power", above = 1500, hysteresis = 100, for = "10s" }
actions = [{ kind = "log", message = "kettle is on ({value} W)" }]
"""


def check(text: str) -> None:
    parse_config(HEAD + text, source="hub.toml")


def test_a_good_rule_passes() -> None:
    config = parse_config(HEAD + GOOD_RULE)
    assert [r.name for r in config.rules] == ["kettle-on"]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        pytest.param(
            'when = { stream = "kitchen_plug.voltage", above = 1 }',
            "unknown strand 'kitchen_plug.voltage'",
            id="unknown-strand",
        ),
        pytest.param(
            'when = { stream = "kitchen_plug.power", above = 1, below = 5 }',
            "exactly one of above, below, equals, changes_to",
            id="two-tests",
        ),
        pytest.param('when = { stream = "kitchen_plug.power" }', "exactly one of above", id="no-test"),
        pytest.param(
            'when = { stream = "kitchen_plug.power", above = 1, during = "07:00-08:00" }',
            "exactly one of stream, forecast, during, all, any, not",
            id="stream-and-window",
        ),
        pytest.param('when = { during = "7 to 8" }', "expected HH:MM-HH:MM", id="bad-window"),
        pytest.param('when = { during = "07:00-25:00" }', "no such time of day", id="bad-hour"),
        pytest.param("when = { all = [] }", "'all' needs at least one condition", id="empty-all"),
        pytest.param(
            'when = { stream = "kitchen_plug.power", changes_to = 3, for = "5s" }',
            "changes_to is a moment",
            id="changes-to-for",
        ),
        pytest.param(
            'when = { stream = "kitchen_plug.power", equals = 3, hysteresis = 1 }',
            "hysteresis applies only",
            id="hysteresis-on-equals",
        ),
        pytest.param("when = { above = 3 }", "above needs a stream", id="test-without-stream"),
    ],
)
def test_bad_condition_names_the_rule(rule: str, message: str) -> None:
    text = f'[[rules]]\nname = "broken-rule"\n{rule}\nactions = [{{ kind = "log", message = "x" }}]\n'
    with pytest.raises(ConfigError) as info:
        check(text)
    assert "rule 'broken-rule'" in str(info.value)
    assert message in str(info.value)
    assert "rules[0].when" in str(info.value)


@pytest.mark.parametrize(
    ("action", "message"),
    [
        pytest.param(
            '{ kind = "board", board = "desk", command = "led" }', "unknown board 'desk'", id="board"
        ),
        pytest.param('{ kind = "log", message = "{watts} W" }', "unknown field {watts}", id="template-field"),
        pytest.param('{ kind = "log", message = "{value:zz}" }', "bad template", id="template-format"),
        pytest.param('{ kind = "log", message = "{value" }', "bad template", id="template-brace"),
        pytest.param(
            '{ kind = "publish", topic = "home/kettle" }', "there is no [local_mqtt] section", id="no-broker"
        ),
    ],
)
def test_bad_action_names_the_rule(action: str, message: str) -> None:
    text = (
        '[[rules]]\nname = "broken-rule"\nwhen = { stream = "kitchen_plug.power", above = 1 }\n'
        f"actions = [{action}]\n"
    )
    with pytest.raises(ConfigError) as info:
        check(text)
    assert "rule 'broken-rule'" in str(info.value)
    assert message in str(info.value)
    assert "rules[0].actions[0]" in str(info.value)


def test_wildcard_publish_topic_is_refused() -> None:
    text = (
        '[local_mqtt]\nport = 1883\n[[rules]]\nname = "wild"\n'
        'when = { stream = "kitchen_plug.power", above = 1 }\n'
        'actions = [{ kind = "publish", topic = "home/#" }]\n'
    )
    with pytest.raises(ConfigError, match=r"rule 'wild': topic 'home/#' must be a plain topic"):
        check(text)


def test_duplicate_rule_names_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"rule 'kettle-on': another rule has this name"):
        check(GOOD_RULE + GOOD_RULE)


def test_switch_on_an_unknown_board_is_refused() -> None:
    text = '[local_mqtt]\n[[local_mqtt.switches]]\nname = "led"\nboard = "desk"\ncommand = "led"\n'
    with pytest.raises(ConfigError, match=r"switch 'led': unknown board 'desk'"):
        check(text)


def test_known_boards_and_strands_come_from_the_providers(known: dict[str, set[str]]) -> None:
    known["boards"].add("desk")
    known["strands"].add("context.appliance")
    text = (
        '[[rules]]\nname = "kettle-led"\n'
        'when = { stream = "context.appliance", equals = "kettle", min_confidence = 0.7, for = "10s" }\n'
        'actions = [{ kind = "board", board = "desk", command = "set", arg = 1 }]\n'
    )
    check(text)


def test_config_check_exits_2_naming_the_rule(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(
        HEAD
        + '[[rules]]\nname = "lights-at-dusk"\nwhen = { stream = "garden.lux", below = 10 }\n'
        + 'actions = [{ kind = "log", message = "dusk" }]\n'
    )
    result = hearth("config", "check", str(path))
    assert result.returncode == 2, result.stderr
    assert "rule 'lights-at-dusk': unknown strand 'garden.lux'" in result.stderr
    assert "rules[0].when.stream" in result.stderr
    assert "Traceback" not in result.stderr


def test_rules_test_replays_a_csv(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text(HEAD + GOOD_RULE)
    rows = ["ts,stream,value"]
    # Local (Berlin) times: the kettle boils from 07:00:05 for 25 s, sampled every second.
    rows += [f"2026-03-29T07:00:{i:02d},kitchen_plug.power,{1950 if 5 <= i < 30 else 2}" for i in range(40)]
    data = tmp_path / "kettle.csv"
    data.write_text("\n".join(rows) + "\n")
    result = hearth("rules", "test", "-c", str(config), str(data), env_extra={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert "1 actions from 40 readings" in result.stdout
    assert "2026-03-29 07:00:15.000+02:00" in result.stdout  # 10 s after it crossed 1500 W
    assert "kettle-on" in result.stdout

    listed = hearth("rules", "list", "-c", str(config), env_extra={"COLUMNS": "200"})
    assert listed.returncode == 0, listed.stderr
    assert "kitchen_plug.power > 1500 (off <= 1400) for 10s" in listed.stdout


def test_rules_test_names_a_bad_row(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text(HEAD + GOOD_RULE)
    data = tmp_path / "bad.csv"
    data.write_text("ts,stream,value\n1780000000,kitchen_plug.power,12\nyesterday,kitchen_plug.power,3\n")
    result = hearth("rules", "test", "-c", str(config), str(data))
    assert result.returncode == 2
    assert "row 3" in result.stderr
    assert "'yesterday' is neither unix seconds nor an ISO 8601 time" in result.stderr


def test_password_file_is_taken_from_the_config_files_folder(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(HEAD + '[local_mqtt]\nusername = "hub"\npassword_file = "secrets/mqtt"\n')
    config = load_config(path)
    assert config.local_mqtt is not None
    assert config.local_mqtt.password_file == str(tmp_path / "secrets" / "mqtt")


def test_serial_boards_and_models_are_known_from_the_config() -> None:
    extra = (
        '[[sources]]\nkind = "serial"\nname = "bench"\nport = "/dev/serial/by-id/bench"\n'
        '[[sources]]\nkind = "serial"\nname = "lines"\nport = "/dev/ttyACM1"\nmode = "text"\n'
        '[[models]]\nname = "appliance"\nmodel = "builtin:appliance"\n'
        'inputs = { power = "kitchen_plug.power" }\n'
    )
    ok = (
        '[[rules]]\nname = "microwave-fan"\n'
        'when = { all = [{ stream = "context.appliance", equals = "microwave" }, '
        '{ stream = "bench.temperature", above = 25 }] }\n'
        'actions = [{ kind = "board", board = "bench", command = "set", arg = 1 }]\n'
    )
    check(extra + ok)
    with pytest.raises(ConfigError, match=r"rule 'mood': unknown strand 'context.mood'"):
        check(extra + ok.replace("microwave-fan", "mood").replace("context.appliance", "context.mood"))
    # A text-mode board only talks; it takes no commands.
    with pytest.raises(ConfigError, match=r"rule 'lines': unknown board 'lines'"):
        check(extra + ok.replace("microwave-fan", "lines").replace('board = "bench"', 'board = "lines"'))


def test_ble_devices_are_known_from_gatt_config_and_adoptions(tmp_path: Path) -> None:
    from agent.sources.ble.adoption import AdoptionStore
    from agent.store.readings import open_readings

    store = open_readings(tmp_path)
    try:
        AdoptionStore(store.conn).adopt("A4:C1:38:8D:18:B2", "fridge")
    finally:
        store.close()
    head = HEAD.replace('data_dir = "/tmp/unused"', f'data_dir = "{tmp_path}"')
    ble = (
        '[[sources]]\nkind = "ble"\n'
        '[[sources.gatt]]\nname = "chest"\naddress = "11:22:33:44:55:66"\nservices = ["heart_rate"]\n'
    )
    rules = (
        '[[rules]]\nname = "cold-fridge"\nwhen = { any = [{ stream = "fridge.temperature", above = 8 }, '
        '{ stream = "chest.heart_rate", above = 150 }] }\nactions = [{ kind = "log", message = "x" }]\n'
    )
    parse_config(head + ble + rules)
    with pytest.raises(ConfigError, match=r"rule 'cold-fridge': unknown strand 'cellar.temperature'"):
        parse_config(head + ble + rules.replace("fridge.temperature", "cellar.temperature"))


def test_framed_nordic_uart_devices_are_boards_and_text_ones_are_not() -> None:
    ble = (
        '[[sources]]\nkind = "ble"\n'
        '[[sources.gatt]]\nname = "greenhouse"\naddress = "E4:5F:01:AA:BB:CC"\nservices = ["nus"]\n'
        '[[sources.gatt]]\nname = "lamp"\naddress = "E4:5F:01:AA:BB:CD"\nservices = ["nus"]\n'
        'nus_mode = "text"\n'
        '[[sources.gatt]]\nname = "chest"\naddress = "11:22:33:44:55:66"\nservices = ["heart_rate"]\n'
    )
    rule = (
        '[[rules]]\nname = "vent"\nwhen = { stream = "greenhouse.temperature", above = 25 }\n'
        'actions = [{ kind = "board", board = "greenhouse", command = "set", arg = 1 }]\n'
    )
    check(ble + rule)
    for other in ("lamp", "chest"):
        with pytest.raises(ConfigError, match=rf"rule 'vent': unknown board '{other}'"):
            check(ble + rule.replace('board = "greenhouse"', f'board = "{other}"'))
