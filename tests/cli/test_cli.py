"""The command line as a user meets it: version, help, status, demo."""

from __future__ import annotations

import stat
from pathlib import Path

from agent import __version__
from tests.conftest import hearth


def test_version() -> None:
    result = hearth("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"hearth, version {__version__}"


def test_every_command_has_help() -> None:
    for command in (["run"], ["demo"], ["status"], ["config", "check"], ["config", "schema"]):
        result = hearth(*command, "--help")
        assert result.returncode == 0, command
        assert "Example:" in result.stdout, command


def test_status_before_any_data_says_so(hub_config: Path) -> None:
    result = hearth("status", "-c", str(hub_config))
    assert result.returncode == 1
    assert "no readings file" in result.stderr
    assert "has the agent run with this config?" in result.stderr


def test_demo_collects_and_summarises(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    result = hearth("demo", "--duration", "3", "--data-dir", str(data), env_extra={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    for stream in ("living_room.temperature", "living_room.humidity", "kitchen_plug.power"):
        assert stream in result.stdout
    assert "bytes on disk per stored reading" in result.stdout
    assert stat.S_IMODE((data / "readings.db").stat().st_mode) == 0o600


def test_status_after_a_run_shows_sources_streams_and_size(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    assert hearth("demo", "--duration", "2", "--data-dir", str(data)).returncode == 0
    config = tmp_path / "hub.toml"
    config.write_text(f'[hub]\nid = "demo-hub"\ndata_dir = "{data}"\n')
    result = hearth("status", "-c", str(config), env_extra={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert "Sources of hub demo-hub" in result.stdout
    assert "kitchen_plug.power" in result.stdout
    assert "raw readings; readings file" in result.stdout


def first_column(output: str, title: str) -> str:
    """The first column's text of the table titled ``title`` in ``output``, its cells' lines joined."""
    table = output[output.index(title) :]
    table = table[table.index("┡") : table.index("└")]
    return "".join(line.split("│")[1].strip() for line in table.splitlines() if line.startswith("│"))


def test_status_on_a_narrow_terminal_shows_whole_names(tmp_path: Path) -> None:
    """At 80 columns (a pipe, a small terminal) long names wrap instead of ending in '…', where
    balcony.acceleration_x and balcony.acceleration_y would both read balcony.acc…."""
    data = tmp_path / "demo"
    assert hearth("demo", "--duration", "2", "--data-dir", str(data)).returncode == 0
    config = tmp_path / "hub.toml"
    config.write_text(f'[hub]\nid = "demo-hub"\ndata_dir = "{data}"\n')
    result = hearth("status", "-c", str(config), env_extra={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    streams = first_column(result.stdout, "Streams")
    assert "…" not in streams
    for name in ("balcony.acceleration_x", "balcony.acceleration_y", "forecast.living_room.temperature.6h"):
        assert name in streams
    assert "kitchen_plug" in first_column(result.stdout, "Sources of hub demo-hub")


def test_the_demo_says_its_temporary_data_folder_is_gone(tmp_path: Path) -> None:
    """The summary names the readings file; without --data-dir that file is removed at the end."""
    result = hearth("demo", "--duration", "2", env_extra={"COLUMNS": "200", "TMPDIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    (named,) = {word for word in result.stdout.split() if word.endswith("/readings.db")}
    assert not Path(named).exists()
    folder = str(Path(named).parent)
    assert f"removed the demo's data folder {folder}; keep it with --data-dir DIR" in result.stdout
