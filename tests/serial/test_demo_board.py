"""``hearth demo`` reads its emulated workbench board through the real serial source."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from agent.cli import cli
from agent.config.schema import SerialSourceConfig
from agent.demo import DEMO_BOARD_LINK, demo_config
from agent.store.readings import open_readings


def test_demo_config_has_the_serial_board(tmp_path: Path) -> None:
    config = demo_config(tmp_path, board=True)
    serial = [s for s in config.sources if isinstance(s, SerialSourceConfig)]
    assert [s.name for s in serial] == ["workbench"]
    assert serial[0].port == str(tmp_path / DEMO_BOARD_LINK)
    assert not any(isinstance(s, SerialSourceConfig) for s in demo_config(tmp_path).sources)


def test_demo_records_the_emulated_board(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["demo", "--duration", "3", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "emulated serial board workbench-1 on /dev/pts/" in result.output
    assert "workbench: frames_ok" in result.output
    store = open_readings(tmp_path, read_only=True)
    try:
        assert store.count_readings("workbench.temperature") > 0
        assert store.count_readings("workbench.humidity") > 0
    finally:
        store.close()
    assert not (tmp_path / DEMO_BOARD_LINK).exists()  # the demo unplugged its board
