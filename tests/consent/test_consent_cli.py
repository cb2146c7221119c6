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


def test_a_noised_grant_from_the_command_line_and_its_budget_in_show(tmp_path: Path) -> None:
    config = tmp_path / "hearth.toml"
    config.write_text(f'[hub]\nid = "cli-hub"\ndata_dir = "{tmp_path / "data"}"\n')
    given = CliRunner().invoke(
        cli,
        [
            "consent", "grant", "-c", str(config), "--recipient", "coop", "--purpose", "heating advice",
            "--strand", "living_room.temperature", "--granularity", "summary:1h",
            "--dp", "laplace", "--epsilon", "0.5", "--bounds", "10..35", "--budget", "8/day",
        ],
    )  # fmt: skip
    assert given.exit_code == 0, given.output
    assert "epsilon 0.5 per release, values clamped to 10..35, at most 8 epsilon per day" in given.output
    grant_id = given.output.split()[1].rstrip(":")
    shown = CliRunner().invoke(cli, ["consent", "show", "-c", str(config), grant_id])
    assert shown.exit_code == 0, shown.output
    assert "budget spent: 0 of 8 epsilon this period (0 releases, 0 refused)" in shown.output
    assert "budget left: 8 epsilon, renews" in shown.output
    receipt = CliRunner().invoke(cli, ["consent", "receipt", "-c", str(config), grant_id])
    assert '"differential_privacy"' in receipt.output


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--dp", "laplace", "--epsilon", "0.5", "--bounds", "10-35", "--budget", "8/day"],
            "invalid --bounds",
        ),
        (
            ["--dp", "laplace", "--epsilon", "0.5", "--bounds", "10..35", "--budget", "8/fortnight"],
            "--budget",
        ),
        (["--dp", "laplace", "--rho", "0.5", "--bounds", "10..35", "--budget", "8/day"], "--epsilon"),
        (["--dp", "laplace", "--epsilon", "0.5", "--bounds", "35..10", "--budget", "8/day"], "lower below"),
        (
            ["--dp", "laplace", "--epsilon", "2", "--bounds", "10..35", "--budget", "1/day"],
            "allows no release",
        ),
        (["--epsilon", "0.5"], "go with --dp"),
    ],
)
def test_a_bad_noise_policy_is_refused_with_what_is_wrong(
    tmp_path: Path, options: list[str], message: str
) -> None:
    config = tmp_path / "hearth.toml"
    config.write_text(f'[hub]\nid = "cli-hub"\ndata_dir = "{tmp_path / "data"}"\n')
    base = ["consent", "grant", "-c", str(config), "--recipient", "coop", "--purpose", "advice"]
    strand = ["--strand", "living_room.temperature", "--granularity", "summary:1h"]
    result = CliRunner().invoke(cli, [*base, *strand, *options])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
