"""``hearth consent``: the owner grants, lists, shows and revokes what may leave the home."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from agent.cli.options import config_option

if TYPE_CHECKING:
    import sqlite3

    from agent.config import Config


def open_hub(config_path: Path) -> tuple[Config, sqlite3.Connection]:
    """Load the config and open the hub's ledger file."""
    from agent.config import load_config
    from agent.store.ledger import open_ledger

    config = load_config(config_path)
    return config, open_ledger(Path(config.hub.data_dir))


def when(ts: float | None) -> str:
    """A local time for tables, or an em dash."""
    return "—" if ts is None else datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


@click.group()
def consent() -> None:
    """Grant, list, show and revoke consent for data to leave the home."""


@consent.command()
@config_option
@click.option("--recipient", required=True, help="Who receives the data (becomes part of the topic).")
@click.option("--purpose", required=True, help="Why, in plain words.")
@click.option("--strand", "strands", multiple=True, required=True, help="Stream name or glob; repeatable.")
@click.option(
    "--granularity",
    required=True,
    help="summary:<window> (count/mean/min/max per window), events (context changes), or raw.",
)
@click.option("--precision", type=int, default=None, help="Round values to this many decimal places.")
@click.option("--expires", default=None, help="Duration until the grant ends (for example 30d).")
@click.option("--allow-raw", is_flag=True, help="Confirm that every raw reading may leave the home.")
def grant(
    *,
    config_path: Path,
    recipient: str,
    purpose: str,
    strands: tuple[str, ...],
    granularity: str,
    precision: int | None,
    expires: str | None,
    allow_raw: bool,
) -> None:
    """Allow RECIPIENT to receive STRANDs at GRANULARITY, and print the consent receipt's id.

    Example: hearth consent grant --recipient energy-coop --purpose "heating advice"
    --strand living_room.temperature --granularity summary:1h --precision 1 --expires 90d
    """
    from agent.config.durations import PATTERN, seconds
    from agent.consent.grants import new_grant
    from agent.consent.ledger import add_grant
    from agent.consent.receipts import receipt_for
    from agent.errors import ConsentError

    config, ledger = open_hub(config_path)
    now = time.time()
    expires_at = None
    if expires is not None:
        import re

        if not re.match(PATTERN, expires):
            raise ConsentError(f"invalid --expires {expires!r}", hint="use a duration such as 30d or 12h")
        expires_at = now + seconds(expires)
    try:
        made = new_grant(
            recipient=recipient,
            purpose=purpose,
            strands=strands,
            granularity=granularity,
            precision=precision,
            now=now,
            expires_at=expires_at,
            allow_raw=allow_raw,
        )
        add_grant(ledger, made, receipt_for(made, hub_id=config.hub.id, hub_name=config.hub.name))
    finally:
        ledger.close()
    click.echo(
        f"granted {made.id}: {made.recipient} receives {', '.join(made.strands)} as {made.granularity}"
    )
    if config.upstream is None:
        click.echo("note: no [upstream] broker is configured, so nothing is sent until one is")
    click.echo(f"receipt: hearth consent receipt {made.id}")


@consent.command("list")
@config_option
def list_grants(config_path: Path) -> None:
    """List every grant with its status and queued messages.

    Example: hearth consent list
    """
    from rich.console import Console
    from rich.table import Table

    from agent.consent.ledger import grants

    _, ledger = open_hub(config_path)
    try:
        states = grants(ledger, now=time.time())
    finally:
        ledger.close()
    table = Table(title="Consent grants")
    # The id is what revoke, show and receipt take: it is never cut, whatever the terminal's width;
    # the other columns wrap instead of ending in an ellipsis (``show`` has every detail in full).
    table.add_column("id", no_wrap=True, min_width=max((len(s.grant.id) for s in states), default=2))
    for column in ("recipient", "strands", "granularity", "status", "given", "ends", "queued"):
        table.add_column(column, overflow="fold")
    for s in states:
        g = s.grant
        ends = s.ended_at if s.ended_at is not None else g.expires_at
        table.add_row(
            g.id,
            g.recipient,
            ", ".join(g.strands),
            g.granularity,
            s.status,
            when(g.created_at),
            when(ends),
            str(s.queued),
        )
    Console().print(table if states else "no grants: nothing leaves this hub")


@consent.command()
@config_option
@click.argument("grant_id")
def show(config_path: Path, grant_id: str) -> None:
    """Show one grant in full.

    Example: hearth consent show g-1a2b3c4d5e6f
    """
    from agent.consent.ledger import get_grant

    _, ledger = open_hub(config_path)
    try:
        state = get_grant(ledger, grant_id, now=time.time())
    finally:
        ledger.close()
    g = state.grant
    for key, value in (
        ("id", g.id),
        ("recipient", g.recipient),
        ("purpose", g.purpose),
        ("strands", ", ".join(g.strands)),
        ("granularity", g.granularity),
        ("precision", "as measured" if g.precision is None else f"{g.precision} decimal places"),
        ("given", when(g.created_at)),
        ("expires", when(g.expires_at)),
        ("status", state.status),
        ("ended", when(state.ended_at)),
        ("queued messages", state.queued),
    ):
        click.echo(f"{key:>16}: {value}")


@consent.command()
@config_option
@click.argument("grant_id")
def revoke(config_path: Path, grant_id: str) -> None:
    """Revoke a grant now; its queued messages are purged, not sent.

    Example: hearth consent revoke g-1a2b3c4d5e6f
    """
    from agent.consent.ledger import revoke as revoke_grant

    _, ledger = open_hub(config_path)
    try:
        purged = revoke_grant(ledger, grant_id, now=time.time())
    finally:
        ledger.close()
    click.echo(f"revoked {grant_id}; {purged} queued messages purged unsent")


@consent.command()
@config_option
@click.argument("grant_id")
def receipt(config_path: Path, grant_id: str) -> None:
    """Print the consent receipt (JSON) of a grant.

    Example: hearth consent receipt g-1a2b3c4d5e6f > receipt.json
    """
    from agent.consent.ledger import receipt as stored_receipt

    _, ledger = open_hub(config_path)
    try:
        click.echo(stored_receipt(ledger, grant_id))
    finally:
        ledger.close()
