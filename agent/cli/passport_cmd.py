"""``hearth passport`` and ``hearth forget``: export, verify and erase the hub's data."""

from __future__ import annotations

import time
from pathlib import Path

import click

from agent.cli.consent_cmd import ask
from agent.cli.options import config_option


@click.group()
def passport() -> None:
    """Export everything the hub holds, and verify the audit log."""


@passport.command()
@config_option
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def export(config_path: Path, path: Path) -> None:
    """Write all local data, grants, receipts and the audit log to PATH (a zip of JSON Lines and CSV).

    Example: hearth passport export ~/hearth-passport.zip
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from agent.config import load_config
    from agent.consent.passport import export as write_export
    from agent.store.ledger import open_ledger
    from agent.store.readings import open_readings

    # Read-only connections: SQLite's own locking gives a consistent snapshot beside a running hub.
    config = load_config(config_path)
    store = open_readings(Path(config.hub.data_dir), read_only=True)
    ledger = open_ledger(Path(config.hub.data_dir), read_only=True)
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()) as bar:
            task = bar.add_task("exporting", total=None)

            def progress(name: str, done: int, total: int) -> None:
                bar.update(task, description=f"exporting {name}", completed=done, total=total)

            manifest = write_export(
                store.conn, ledger, path, hub_id=config.hub.id, now=time.time(), progress=progress
            )
    finally:
        store.close()
        ledger.close()
    rows = sum(f["rows"] for f in manifest["files"].values())
    click.echo(f"exported {rows} rows in {len(manifest['files'])} files to {path}")


@passport.command()
@config_option
@click.option(
    "--archive",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Verify an exported archive instead of the hub's ledger.",
)
def verify(config_path: Path, archive: Path | None) -> None:
    """Check that the audit log's hash chain is intact (no entry edited or removed).

    Example: hearth passport verify  (or: hearth passport verify --archive passport.zip)
    """
    from agent.consent.passport import verify_archive
    from agent.errors import AgentError

    if archive is not None:
        problems = verify_archive(archive)
        what = str(archive)
    else:
        checked = ask(config_path, "passport.verify")
        problems = checked["problems"]
        what = f"audit log ({checked['entries']} entries)"
    if problems:
        for problem in problems:
            click.echo(f"  {problem}", err=True)
        raise AgentError(f"{what} failed verification: {len(problems)} problems")
    click.echo(f"{what}: intact")


@click.command()
@config_option
@click.argument("strand")
@click.option("--yes", is_flag=True, help="Do not ask before erasing more than STRAND itself.")
def forget(config_path: Path, strand: str, yes: bool) -> None:
    """Erase STRAND (a stream name or glob) locally and ask every recipient that got it to erase it.

    What the hub made from it goes too (its forecasts, anomalies and battery estimates). When that is
    more than STRAND itself (a glob such as ``kitchen.*``, or a forecast stream), what goes is shown and
    confirmed first, unless --yes.

    Example: hearth forget kitchen_plug.power
    """
    import sys

    from agent.errors import ConsentError

    # A pattern, or a stream the hub made forecasts, anomalies or battery estimates from, names more than
    # the owner typed: show what goes before it goes.
    named = [] if yes else ask(config_path, "forget.preview", pattern=strand)
    if named and named != [strand]:
        if not sys.stdin.isatty():
            raise ConsentError(
                f"{strand!r} names {len(named)} strands: {', '.join(named) or 'none'}",
                hint="add --yes to erase them all",
            )
        click.echo(f"{strand!r} names: {', '.join(named)}")
        click.confirm(f"erase these {len(named)} strands here and at every recipient?", abort=True)
    result = ask(config_path, "forget", pattern=strand)
    click.echo(
        f"erased {', '.join(result['streams'])}: {result['readings']} readings, {result['rollups']} rollups;"
        f" {result['purged_unsent']} queued messages purged"
    )
    for recipient, stream in result["requests"]:
        click.echo(f"queued an erasure request to {recipient} for {stream}")
    for model, count in result.get("labels", {}).items():
        click.echo(f"erased {count} labels of {model} and the versions adapted from them: it runs as shipped")
