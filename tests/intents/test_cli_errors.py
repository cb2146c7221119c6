"""Bad input to ``hearth intent``: one clear line naming what is wrong, a non-zero exit, no traceback."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from agent.cli import cli
from tests.testbed.mosquitto import Mosquitto, free_port

from .conftest import STREAM, Home, home_config, intent_id_of

HEAT = ["--category", "heating"]
X = [*HEAT, "--text", "x"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        pytest.param(["--category", "cars", "--text", "x"], "unknown category 'cars'", id="category"),
        pytest.param([*HEAT, "--text", "  "], "the intent's text is empty", id="empty-text"),
        pytest.param([*HEAT, "--text", "x" * 281], "281 characters long", id="long-text"),
        pytest.param([*HEAT, "--text", "a\x1b[2Jb"], "holds control characters", id="control-chars"),
        pytest.param([*HEAT, "--text", "for hub-7f3c-kitchen"], "would name this hub", id="names-hub-id"),
        pytest.param([*HEAT, "--text", "Alice Liddell, a pump"], "would name this hub", id="names-owner"),
        pytest.param([*X, "--lifetime", "soon"], "invalid --lifetime", id="lifetime"),
        pytest.param([*X, "--lifetime", "91d"], "out of range", id="lifetime-long"),
        pytest.param([*X, "--show", "no.such"], "no stream", id="no-stream"),
        pytest.param([*X, "--show", STREAM], "no grant lets", id="show-without-grant"),
        pytest.param([*X, "--show", "living_room.*"], "not patterns", id="glob"),
        pytest.param([*X, "--windows", "0", "--show", STREAM], "0 windows is out of range", id="windows"),
        pytest.param([*X, "--via", "upstream"], "no [upstream]", id="no-upstream"),
    ],
)
def test_create_refuses_bad_input_clearly(home: Home, args: list[str], words: str) -> None:
    home.record([(time.time() - 60, 20.0)])
    result = home.cli("intent", "create", *args)
    assert result.exit_code != 0
    assert words in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    conn = home.ledger()
    try:
        assert conn.execute("SELECT count(*) FROM intents").fetchone() == (0,)
    finally:
        conn.close()


def test_a_grant_that_ends_before_the_intent_is_refused(home: Home) -> None:
    now = time.time()
    home.record([(now - 60, 20.0)])
    home.grant("market", now=now - 7200, expires_at=now + 86400)
    result = home.cli("intent", "create", "--category", "heating", "--text", "x", "--show", STREAM)
    assert result.exit_code == 1
    assert "ends before the intent would" in result.output


def test_without_a_market_section_the_owner_is_told_what_to_add(tmp_path: Path) -> None:
    home = Home(home_config(tmp_path, None), tmp_path / "data", 0)
    result = home.cli("intent", "create", "--category", "heating", "--text", "a heat pump")
    assert result.exit_code == 1
    assert "no [market] broker is configured" in result.output
    assert "hint: add a [market] section" in result.output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        pytest.param(["show", "abc"], "too short", id="short-id"),
        pytest.param(["show", "zzzzzz"], "no intent 'zzzzzz'", id="not-hex"),
        pytest.param(["show", "0123456789"], "no intent '0123456789'", id="unknown"),
        pytest.param(["withdraw", "0123456789"], "no intent", id="withdraw-unknown"),
        pytest.param(["answer", "{id}", "7", "--text", "hi"], "has no offer 7", id="no-offer"),
        pytest.param(["answer", "{id}", "1", "--text", " "], "the answer is empty", id="empty-answer"),
        pytest.param(["answer", "{id}", "one", "--text", "hi"], "'one' is not a valid integer", id="not-int"),
    ],
)
def test_unknown_intents_and_offers_are_named(home: Home, args: list[str], words: str) -> None:
    made = home.cli("intent", "create", "--category", "repairs", "--text", "a leaking tap")
    intent_id = intent_id_of(made.output)
    result = home.cli("intent", *[a.replace("{id}", intent_id[:8]) for a in args])
    assert result.exit_code != 0
    assert words in result.output
    assert "Traceback" not in result.output


def test_a_market_that_is_away_keeps_the_intent_for_later(tmp_path: Path) -> None:
    port = free_port()
    home = Home(home_config(tmp_path, port), tmp_path / "data", port)
    made = home.cli("intent", "create", "--category", "solar", "--text", "panels for a flat roof")
    assert made.exit_code == 0, made.output
    assert "cannot be reached" in made.output
    intent_id = intent_id_of(made.output)
    assert "waiting" in home.cli("intent", "list").output
    # Once the broker is there, the next look publishes it.
    folder = tmp_path / "late"
    folder.mkdir()
    broker = Mosquitto(folder)
    broker.port = port
    broker.conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    with broker:
        shown = home.cli("intent", "show", intent_id)
        assert shown.exit_code == 0, shown.output
        assert "(published)" in shown.output


def test_a_market_on_mqtt_3_is_refused_when_the_config_loads(tmp_path: Path) -> None:
    path = tmp_path / "hearth.toml"
    path.write_text(
        f'[hub]\nid = "h"\ndata_dir = "{tmp_path / "data"}"\n\n'
        '[market]\nhost = "127.0.0.1"\ntls = false\nprotocol = "3.1.1"\n'
    )
    result = CliRunner().invoke(cli, ["config", "check", str(path)])
    assert result.exit_code == 2, result.output
    assert f"{path}: market: intents need MQTT 5" in result.output
    assert 'hint: set market.protocol = "auto" or "5"' in result.output
    assert "Traceback" not in result.output
