"""``hearth sync``: the upstream connection and outbox, as last recorded in the ledger."""

from __future__ import annotations

from pathlib import Path

import click

from agent.cli.consent_cmd import open_hub, when
from agent.cli.options import config_option


@click.group()
def sync() -> None:
    """Upstream sync: broker state and outbox."""


@sync.command()
@config_option
def status(config_path: Path) -> None:
    """Show the broker state as last recorded, the outbox depth and the last acknowledged sequence.

    Example: hearth sync status
    """
    from agent.connection import port_of
    from agent.sync import outbox

    config, ledger = open_hub(config_path)
    try:
        state = outbox.read_state(ledger)
        depth = outbox.depth(ledger)
        acked = outbox.last_acked_seq(ledger)
        (aside,) = ledger.execute("SELECT count(*) FROM outbox_set_aside").fetchone()
        (oldest,) = ledger.execute("SELECT min(created_at) FROM outbox").fetchone()
    finally:
        ledger.close()
    up = config.upstream
    broker = f"{up.host}:{port_of(up)}" if up else "none configured (nothing leaves this hub)"
    click.echo(f"{'broker':>22}: {broker}")
    click.echo(f"{'state':>22}: {state.get('state', 'never connected')} since {when(state.get('since'))}")
    if state.get("error"):
        click.echo(f"{'last error':>22}: {state['error']}")
    click.echo(f"{'outbox depth':>22}: {depth} (oldest queued {when(oldest)})")
    click.echo(f"{'set aside (refused)':>22}: {aside}")
    click.echo(f"{'last acknowledged seq':>22}: {acked}")
