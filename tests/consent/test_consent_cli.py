"""``hearth consent list`` in an ordinary terminal: every grant id stays whole, so it can be copied."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from agent.cli import cli

from .conftest import T0, LocalHub


@pytest.mark.parametrize("columns", [80, 60])
def test_consent_list_never_cuts_a_grant_id(tmp_path: Path, columns: int) -> None:
    config = tmp_path / "hearth.toml"
    config.write_text(f'[hub]\nid = "cli-hub"\ndata_dir = "{tmp_path / "data"}"\n')
    hub = LocalHub(tmp_path / "data")
    made = [
        hub.grant("energy-cooperative-of-the-valley", ["living_room.temperature"], "summary:1h", now=T0),
        hub.grant(
            "heating-advice",
            ["living_room.temperature", "living_room.humidity", "kitchen_plug.power", "context.activity"],
            "summary:10s",
            now=T0,
        ),
        hub.grant("coop", ["context.*"], "events", now=T0),
    ]
    hub.close()
    result = CliRunner().invoke(cli, ["consent", "list", "-c", str(config)], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    for grant in made:
        assert grant.id in result.output
    assert max(len(line) for line in result.output.splitlines()) <= columns
