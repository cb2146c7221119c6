"""Config files: the examples are valid; every kind of mistake exits 2 naming file and key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.config import load_config, parse_config, seconds
from agent.config.schema import CONFIG_VERSION
from agent.errors import ConfigError
from tests.conftest import REPO, hearth

CONFIG_FILES = sorted([REPO / "config" / "hearth.toml", *(REPO / "config" / "examples").glob("*.toml")])

BASE = '[hub]\nid = "h1"\n'


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda p: p.name)
def test_shipped_configs_pass_check(path: Path) -> None:
    result = hearth("config", "check", str(path))
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout


def test_there_is_a_home_hub_and_a_hobbyist_example() -> None:
    names = {p.name for p in CONFIG_FILES}
    assert {"hearth.toml", "home-hub.toml", "hobbyist-board.toml"} <= names


@pytest.mark.parametrize(
    ("text", "key_path", "words"),
    [
        (BASE + '[store]\nbatch_size = "many"\n', "store.batch_size", "Expected `int`, got `str`"),
        (BASE + "[store]\nbatch_sise = 10\n", "store", "unknown field `batch_sise`"),
        (BASE + "[store.retention]\nraw = 7\n", "store.retention.raw", "Expected `str`"),
        (BASE + '[store.retention]\nraw = "7 days"\n', "store.retention.raw", "matching regex"),
        (BASE + "[store]\nqueue_size = 1\n", "store.queue_size", ">= 16"),
        ('[hub]\nid = "Kitchen Hub"\n', "hub.id", "matching regex"),
        ("[store]\n", "", "missing required field `hub`"),
        (BASE + 'timezone = "Mars/Olympus"\n', "hub.timezone", "unknown time zone"),
        ("config_version = 99\n" + BASE, "config_version", "this release reads up to"),
        (
            BASE + '[[sources]]\nkind = "simulated"\nname = "a"\nfile = "x.csv"\nrate = -1\n',
            "sources[0].rate",
            "> 0",
        ),
        (
            BASE + '[[sources]]\nkind = "simulated"\nname = "a"\nfile = "builtin:climate.csv"\n'
            '[[sources]]\nkind = "simulated"\nname = "a"\nfile = "builtin:climate.csv"\n',
            "sources[1].name",
            "already used by sources[0]",
        ),
    ],
    ids=[
        "wrong-type",
        "unknown-key",
        "duration-not-string",
        "bad-duration",
        "out-of-range",
        "bad-hub-id",
        "missing-hub",
        "bad-timezone",
        "newer-version",
        "negative-rate",
        "duplicate-source",
    ],
)
def test_bad_config_exits_2_naming_file_and_key(tmp_path: Path, text: str, key_path: str, words: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    result = hearth("config", "check", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    first_line = result.stderr.splitlines()[0]
    assert first_line.startswith(f"error: {path}: {key_path}" if key_path else f"error: {path}:")
    assert words in result.stderr


def test_missing_file_exits_2(tmp_path: Path) -> None:
    result = hearth("config", "check", str(tmp_path / "nowhere.toml"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'nowhere.toml'}: file not found"


def test_invalid_toml_exits_2_with_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('[hub]\nid = "h1\n')
    result = hearth("config", "check", str(path))
    assert result.returncode == 2
    assert f"error: {path}: invalid TOML" in result.stderr
    assert "line 2" in result.stderr


def test_run_with_bad_config_exits_2_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(BASE + "[log]\nlevel = 'chatty'\n")
    result = hearth("run", "-c", str(path))
    assert result.returncode == 2
    assert "log.level" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_simulation_file_is_reported_at_check(tmp_path: Path) -> None:
    data = tmp_path / "sim.csv"
    data.write_text("power[W]\n1.0\nnot-a-number\n")
    path = tmp_path / "hub.toml"
    path.write_text(BASE + f'[[sources]]\nkind = "simulated"\nname = "p"\nfile = "{data.name}"\n')
    result = hearth("config", "check", str(path))
    assert result.returncode == 2
    assert f"error: {data}: row 3" in result.stderr


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(BASE + 'data_dir = "state"\n')
    assert load_config(path).hub.data_dir == str(tmp_path / "state")


def test_missing_version_means_current_and_defaults_apply() -> None:
    config = parse_config(BASE)
    assert config.config_version == CONFIG_VERSION
    assert seconds(config.store.flush_interval) == 1.0
    assert config.sources == []


@pytest.mark.parametrize(
    ("text", "expected"), [("100ms", 0.1), ("30s", 30), ("5m", 300), ("2h", 7200), ("1.5d", 129600)]
)
def test_durations(text: str, expected: float) -> None:
    assert seconds(text) == pytest.approx(expected)


def test_schema_is_json_schema_of_the_config() -> None:
    result = hearth("config", "schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert schema["title"] == "Hearth hub configuration"
    config = schema["$defs"]["Config"]
    assert "hub" in config["required"]
    assert config["additionalProperties"] is False
    assert set(config["properties"]) >= {"hub", "store", "sources", "log", "daemon"}


def test_config_error_names_source_for_documents() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(BASE + "[daemon]\nstall_limit = true\n", source="pushed document v7")
    assert str(caught.value).startswith("pushed document v7: daemon.stall_limit:")
