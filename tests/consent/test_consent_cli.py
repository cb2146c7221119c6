"""``hearth consent list`` in an ordinary terminal: every grant id stays whole, so it can be copied."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from agent.cli import cli
from agent.consent import budget
from agent.consent.ledger import get_grant
from agent.store.ledger import open_ledger
from agent.store.sqlite import transaction
from tests.conftest import hearth

from .conftest import T0, LocalHub


def hub_config(tmp_path: Path) -> Path:
    """A hub whose simulated living-room sensor makes ``living_room.temperature`` and ``.humidity``."""
    table = tmp_path / "living_room.csv"
    table.write_text("temperature[°C],humidity[%]\n21.0,40\n21.5,41\n")
    config = tmp_path / "hearth.toml"
    config.write_text(
        f'[hub]\nid = "cli-hub"\ndata_dir = "{tmp_path / "data"}"\n\n'
        f'[[sources]]\nkind = "simulated"\nname = "living_room"\nfile = "{table}"\n'
    )
    return config


def noised_grant(config: Path) -> list[str]:
    """``hearth consent grant`` arguments for hourly Laplace-noised summaries to ``coop``."""
    return [
        "consent", "grant", "-c", str(config), "--recipient", "coop", "--purpose", "heating advice",
        "--strand", "living_room.temperature", "--granularity", "summary:1h",
        "--dp", "laplace", "--epsilon", "0.5", "--bounds", "10..35", "--budget", "8/day",
    ]  # fmt: skip


@pytest.mark.parametrize("columns", [80, 60])
def test_consent_list_never_cuts_a_grant_id(tmp_path: Path, columns: int) -> None:
    config = hub_config(tmp_path)
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
    config = hub_config(tmp_path)
    given = CliRunner().invoke(cli, noised_grant(config))
    assert given.exit_code == 0, given.output
    assert "epsilon 0.5 per release, values clamped to 10..35, at most 8 epsilon per day" in given.output
    grant_id = given.output.split()[1].rstrip(":")
    shown = CliRunner().invoke(cli, ["consent", "show", "-c", str(config), grant_id])
    assert shown.exit_code == 0, shown.output
    assert "budget spent: 0 of 8 epsilon this period (0 releases, 0 refused)" in shown.output
    assert "budget left: 8 epsilon, renews" in shown.output
    receipt = CliRunner().invoke(cli, ["consent", "receipt", "-c", str(config), grant_id])
    assert '"differential_privacy"' in receipt.output


def test_consent_list_flags_noised_grants_with_the_budget_spent_and_left(tmp_path: Path) -> None:
    config = hub_config(tmp_path)
    base = ["consent", "grant", "-c", str(config), "--purpose", "heating advice"]
    strand = ["--strand", "living_room.temperature", "--granularity", "summary:1h"]
    dp = ["--dp", "laplace", "--epsilon", "0.5", "--bounds", "10..35", "--budget", "8/day"]
    noised = CliRunner().invoke(cli, [*base, "--recipient", "coop", *strand, *dp])
    exact = CliRunner().invoke(cli, [*base, "--recipient", "utility", *strand])
    assert noised.exit_code == 0, noised.output
    assert exact.exit_code == 0, exact.output
    noised_id = noised.output.split()[1].rstrip(":")
    exact_id = exact.output.split()[1].rstrip(":")
    # Three releases spent as the summariser spends them: 1.5 of the 8 epsilon a day.
    ledger = open_ledger(tmp_path / "data")
    try:
        now = time.time()
        grant = get_grant(ledger, noised_id, now=now).grant
        assert grant.dp is not None
        with transaction(ledger, immediate=True):
            budget.debit(
                ledger,
                grant_id=grant.id,
                recipient="coop",
                stream="living_room.temperature",
                policy=grant.dp,
                loss=0.5,
                windows=[(now - 3600 * k, now - 3600 * (k - 1)) for k in (3, 2, 1)],
                now=now,
            )
    finally:
        ledger.close()

    listed = CliRunner().invoke(cli, ["consent", "list", "-c", str(config)], env={"COLUMNS": "250"})
    assert listed.exit_code == 0, listed.output
    rows = {line.split()[1]: line for line in listed.output.splitlines() if "g-" in line}
    assert "laplace, epsilon 0.5 a release: 1.5 of 8 spent, 6.5 left" in rows[noised_id]
    assert "exact" in rows[exact_id]
    assert "spent" not in rows[exact_id]
    shown = CliRunner().invoke(cli, ["consent", "show", "-c", str(config), noised_id])
    assert "budget spent: 1.5 of 8 epsilon this period (3 releases, 0 refused)" in shown.output


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--dp", "laplace", "--epsilon", "0.5", "--bounds", "10-35", "--budget", "8/day"],
            "invalid bounds '10-35'\n  hint: two numbers joined by '..'; --bounds 10..35",
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
    config = hub_config(tmp_path)
    base = ["consent", "grant", "-c", str(config), "--recipient", "coop", "--purpose", "advice"]
    strand = ["--strand", "living_room.temperature", "--granularity", "summary:1h"]
    result = CliRunner().invoke(cli, [*base, *strand, *options])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_noised_grant_without_opendp_installed_is_refused_naming_the_extra(tmp_path: Path) -> None:
    """OpenDP is an extra (32-bit systems have no build): without it the grant is refused, cleanly."""
    config = hub_config(tmp_path)
    args = noised_grant(config)
    # A None entry in sys.modules makes ``import opendp`` fail as it does where the package is absent.
    absent = "import sys; sys.modules['opendp'] = None; from agent.cli import main; main()"
    result = subprocess.run(
        [sys.executable, "-c", absent, *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "noised grants need OpenDP" in result.stderr
    assert "hearth-agent[dp]" in result.stderr
    assert "Traceback" not in result.stderr
    listed = CliRunner().invoke(cli, ["consent", "list", "-c", str(config)])
    assert listed.exit_code == 0, listed.output
    assert "coop" not in listed.output  # nothing was granted


def test_consent_list_and_show_say_a_noised_grant_is_held_where_opendp_is_missing(tmp_path: Path) -> None:
    """A noised grant made where OpenDP was installed, looked at where it is not: held, and why."""
    config = hub_config(tmp_path)
    given = CliRunner().invoke(cli, noised_grant(config))
    assert given.exit_code == 0, given.output
    grant_id = given.output.split()[1].rstrip(":")
    absent = "import sys; sys.modules['opendp'] = None; from agent.cli import main; main()"
    for command in (["list"], ["show", grant_id]):
        result = subprocess.run(
            [sys.executable, "-c", absent, "consent", *command, "-c", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "COLUMNS": "300"},
        )
        assert result.returncode == 0, result.stderr
        assert (
            "OpenDP is not installed (pip install 'hearth-agent[dp]'), nothing of it leaves" in result.stdout
        )
    installed = CliRunner().invoke(cli, ["consent", "show", "-c", str(config), grant_id])
    assert "OpenDP is not installed" not in installed.output


def test_a_grant_of_a_strand_this_hub_does_not_have_is_refused_naming_it(tmp_path: Path) -> None:
    """A typo is not a grant: the owner is told which strand is unknown and which strands there are."""
    config = hub_config(tmp_path)
    base = ["consent", "grant", "-c", str(config), "--recipient", "coop", "--purpose", "heating advice"]
    result = hearth(*base, "--strand", "nosuch.stream", "--granularity", "summary:1h")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "error: no strand 'nosuch.stream' on this hub" in result.stderr
    assert "hint: strands on this hub: living_room.humidity, living_room.temperature" in result.stderr
    assert "Traceback" not in result.stderr
    # One unknown strand among known ones refuses the whole grant: nothing is granted.
    result = hearth(
        *base, "--strand", "living_room.temperature", "--strand", "living_room.temprature",
        "--granularity", "summary:1h",
    )  # fmt: skip
    assert result.returncode == 1
    assert "no strand 'living_room.temprature'" in result.stderr
    assert "hint: did you mean living_room.temperature? strands on this hub:" in result.stderr
    listed = hearth("consent", "list", "-c", str(config))
    assert listed.returncode == 0, listed.stderr
    assert "no grants: nothing leaves this hub" in listed.stdout


def test_a_glob_that_names_no_strand_yet_is_granted_with_a_warning(tmp_path: Path) -> None:
    """``climate.*`` may be meant for a device adopted later: granted, and the owner is told it covers nothing
    yet; a glob that names a strand here is granted without a word."""
    config = hub_config(tmp_path)
    base = ["consent", "grant", "-c", str(config), "--recipient", "coop", "--purpose", "heating advice"]
    later = hearth(*base, "--strand", "climate.*", "--granularity", "summary:1h")
    assert later.returncode == 0, later.stderr
    assert later.stdout.startswith("granted g-")
    assert "warning: climate.* names no strand on this hub yet" in later.stderr
    now = hearth(*base, "--strand", "*.temperature", "--granularity", "summary:1h")
    assert now.returncode == 0, now.stderr
    assert "warning" not in now.stderr


def test_a_mistake_names_the_commands_option_where_the_dashboard_names_its_field(tmp_path: Path) -> None:
    config = hub_config(tmp_path)
    base = [
        "consent",
        "grant",
        "-c",
        str(config),
        "--recipient",
        "coop",
        "--strand",
        "living_room.temperature",
    ]
    result = hearth(*base, "--purpose", " ", "--granularity", "summary:1h")
    assert result.returncode == 1
    assert result.stderr == (
        "error: a grant needs a purpose in plain words\n  hint: --purpose 'heating advice'\n"
    )
    result = hearth(*base, "--purpose", "advice", "--granularity", "raw")
    assert result.returncode == 1
    assert "hint: confirm with --allow-raw if you really mean to share every reading" in result.stderr
