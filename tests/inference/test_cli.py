"""``hearth model``: list, info, eval and run with the shipped models."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from agent.cli import cli
from agent.sources.simulated import BUILTIN_DIR


def hearth(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["model", *args], terminal_width=200)
    return result.exit_code, result.output


def test_list_shows_both_models_with_their_metrics() -> None:
    code, output = hearth("list")
    assert code == 0
    assert "activity" in output
    assert "appliance" in output
    assert "0.780" in output


def test_info_shows_the_verified_card() -> None:
    code, output = hearth("info", "appliance")
    assert code == 0
    assert "(verified)" in output
    assert "int8" in output
    assert "0.1 Hz, window 1460 samples" in output


def test_eval_reprints_the_held_out_metrics() -> None:
    code, output = hearth("eval", "activity")
    assert code == 0
    assert "40 held-out windows, accuracy 1.0000, macro-F1 1.0000" in output
    code, output = hearth("eval", "appliance")
    assert code == 0
    assert "100 held-out windows, accuracy 0.7800, macro-F1 0.7667" in output


def test_run_classifies_a_csv_window_by_window() -> None:
    code, output = hearth("run", "activity", str(BUILTIN_DIR / "wrist_imu_test.csv"))
    assert code == 0
    lines = output.splitlines()
    assert len(lines) == 12
    assert lines[0].startswith("rows 1-100: standing")
    assert lines[1].startswith("rows 101-200: walking")


def test_run_names_a_missing_column(tmp_path: Path) -> None:
    csv = tmp_path / "short.csv"
    csv.write_text("acc_x,acc_y\n1,2\n", encoding="utf-8")
    code, output = hearth("run", "activity", str(csv))
    assert code == 1
    assert "no column for input(s) acc_z, gyro_x, gyro_y, gyro_z" in output


def test_unknown_model_is_a_clear_error() -> None:
    code, output = hearth("info", "toaster")
    assert code == 1
    assert "no built-in model 'toaster'" in output
