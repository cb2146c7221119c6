"""``hearth demo`` shows a forecast and an anomaly from the week of history it starts with."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import hearth


def test_the_demo_summary_shows_forecasts_and_the_radiator_left_on(tmp_path: Path) -> None:
    result = hearth(
        "demo", "--duration", "3", "--data-dir", str(tmp_path / "demo"), env_extra={"COLUMNS": "200"}
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Forecasts (from the hub's own history; times in UTC)" in out
    for horizon in ("1h", "3h", "6h"):
        assert f"forecast.living_room.temperature.{horizon}" in out
    assert "(80%)" in out
    anomaly = next(line for line in out.splitlines() if "│ anomaly.living_room.temperature" in line)
    assert "expected" in anomaly
    assert "back to normal" not in anomaly  # the radiator is still on when the demo starts
