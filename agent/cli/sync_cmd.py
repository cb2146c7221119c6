"""``hearth sync``: the upstream connection (live from a running hub) and the outbox."""

from __future__ import annotations

from pathlib import Path

import click

from agent.cli.options import config_option


@click.group()
def sync() -> None:
    """Upstream sync: broker state and outbox."""


@sync.command()
@config_option
def status(config_path: Path) -> None:
    """Show the broker state (live from a running hub), the outbox depth and the last acknowledged sequence.

    Example: hearth sync status
    """
    from agent.config import HubClock, load_config
    from agent.connection import port_of
    from agent.control.client import call

    config = load_config(config_path)
    status = call(config, "sync.status")
    when = HubClock.of(config).stamp
    state = status["state"]
    up = config.upstream
    broker = f"{up.host}:{port_of(up)}" if up else "none configured (nothing leaves this hub)"
    click.echo(f"{'broker':>22}: {broker}")
    if up is None and not state:
        click.echo(f"{'state':>22}: no link (no [upstream] section)")
    else:
        click.echo(f"{'state':>22}: {state.get('state', 'never connected')} since {when(state.get('since'))}")
    if state.get("error"):
        click.echo(f"{'last error':>22}: {state['error']}")
    click.echo(f"{'outbox depth':>22}: {status['depth']} (oldest queued {when(status['oldest'])})")
    click.echo(f"{'set aside (refused)':>22}: {status['set_aside']}")
    click.echo(f"{'last acknowledged seq':>22}: {status['acked']}")
    if not status.get("running", status["live"]):
        click.echo("(the hub is not running: the state is as it last recorded it)")
