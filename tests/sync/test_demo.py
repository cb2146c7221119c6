"""``hearth demo`` runs its own broker and shows that only the example grant's summaries left the home."""

from __future__ import annotations

from click.testing import CliRunner

from agent.cli import cli


def test_demo_shows_what_left_the_home() -> None:
    result = CliRunner().invoke(cli, ["demo", "--duration", "22"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = result.output
    assert "example grant" in out
    assert "seq 1: living_room.temperature" in out
    assert "energy-coop/living_room.temperature" in out
    assert "energy-coop/kitchen_plug" not in out
    assert "energy-coop/living_room.humidity" not in out
    assert out.count("energy-coop/") == out.count(": living_room.temperature")
