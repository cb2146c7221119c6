"""``hearth consent``: the owner grants, lists, shows and revokes what may leave the home."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from agent.cli.options import config_option

if TYPE_CHECKING:
    from agent.config import HubClock


def ask(config_path: Path, action: str, **params: Any) -> Any:
    """Carry out an owner action on the hub ``config_path`` configures (the running hub, if one runs)."""
    from agent.config import load_config
    from agent.control.client import call

    return call(load_config(config_path), action, **params)


def clock_of(config_path: Path) -> HubClock:
    """The clock of the hub ``config_path`` configures: times shown and typed are in its ``hub.timezone``."""
    from agent.config import HubClock, load_config

    return HubClock.of(load_config(config_path))


def describe_policy(dp: dict[str, Any]) -> str:
    """``laplace, epsilon 0.5 per release, values clamped to 10..35, at most 8 per day``."""
    unit = "epsilon" if dp["mechanism"] == "laplace" else "rho"
    period = {3600.0: "hour", 86400.0: "day", 604800.0: "week"}.get(dp["period_s"], f"{dp['period_s']:g} s")
    return (
        f"{dp['mechanism']}, {unit} {dp['per_release']:g} per release,"
        f" values clamped to {dp['lower']:g}..{dp['upper']:g}, at most {dp['cap']:g} {unit} per {period}"
    )


def describe_budget(dp: dict[str, Any], standing: dict[str, Any]) -> str:
    """``laplace, epsilon 0.5 a release: 1.5 of 8 spent, 6.5 left`` (the recipient's budget this period)."""
    return (
        f"{dp['mechanism']}, {standing['unit']} {dp['per_release']:g} a release:"
        f" {standing['spent']:.4g} of {standing['cap']:g} spent, {standing['left']:.4g} left"
    )


@click.group()
def consent() -> None:
    """Grant, list, show and revoke consent for data to leave the home."""


@consent.command()
@config_option
@click.option("--recipient", required=True, help="Who receives the data (becomes part of the topic).")
@click.option("--purpose", required=True, help="Why, in plain words.")
@click.option(
    "--strand",
    "strands",
    multiple=True,
    required=True,
    help="A strand of this hub, or a glob (living_room.*; * alone: every strand, also future ones);"
    " repeatable.",
)
@click.option(
    "--granularity",
    required=True,
    help="summary:<window> (count/mean/min/max per window), events (context changes), or raw.",
)
@click.option("--precision", type=int, default=None, help="Round values to this many decimal places.")
@click.option("--expires", default=None, help="Duration until the grant ends (for example 30d).")
@click.option("--allow-raw", is_flag=True, help="Confirm that every raw reading may leave the home.")
@click.option(
    "--dp",
    "mechanism",
    type=click.Choice(["laplace", "gaussian"]),
    default=None,
    help="Send summaries noised for differential privacy (see docs/privacy.md).",
)
@click.option("--epsilon", type=float, default=None, help="With --dp laplace: privacy loss per release.")
@click.option("--rho", type=float, default=None, help="With --dp gaussian: zCDP loss (rho) per release.")
@click.option("--bounds", default=None, help="With --dp: LO..HI, values are clamped to them (10..35).")
@click.option("--budget", default=None, help="With --dp: cap on the loss per period (8/day, 2/hour, 4/12h).")
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
    mechanism: str | None,
    epsilon: float | None,
    rho: float | None,
    bounds: str | None,
    budget: str | None,
) -> None:
    """Allow RECIPIENT to receive STRANDs at GRANULARITY, and print the consent receipt's id.

    Example: hearth consent grant --recipient energy-coop --purpose "heating advice"
    --strand living_room.temperature --granularity summary:1h --precision 1 --expires 90d

    Noised: add --dp laplace --epsilon 0.5 --bounds 10..35 --budget 8/day
    """
    import msgspec

    from agent.config.durations import PATTERN, seconds
    from agent.consent.dp import policy_from_options
    from agent.errors import ConsentError

    policy = None
    if mechanism is not None:
        policy = policy_from_options(mechanism, epsilon=epsilon, rho=rho, bounds=bounds, budget=budget)
    elif any(v is not None for v in (epsilon, rho, bounds, budget)):
        raise ConsentError("--epsilon, --rho, --bounds and --budget go with --dp", hint="--dp laplace")
    if expires is not None and not re.match(PATTERN, expires):
        raise ConsentError(f"invalid --expires {expires!r}", hint="use a duration such as 30d or 12h")
    result = ask(
        config_path,
        "consent.grant",
        recipient=recipient,
        purpose=purpose,
        strands=list(strands),
        granularity=granularity,
        precision=precision,
        expires_s=None if expires is None else seconds(expires),
        allow_raw=allow_raw,
        dp=None if policy is None else msgspec.to_builtins(policy),
    )
    made = result["grant"]
    click.echo(
        f"granted {made['id']}: {made['recipient']} receives {', '.join(made['strands'])}"
        f" as {made['granularity']}"
    )
    for warning in result.get("warnings", []):
        click.echo(f"warning: {warning}", err=True)
    if made.get("dp"):
        click.echo(f"noised: {describe_policy(made['dp'])}")
    if not result["upstream"]:
        click.echo("note: no [upstream] broker is configured, so nothing is sent until one is")
    click.echo(f"receipt: hearth consent receipt {made['id']}")


@consent.command("list")
@config_option
def list_grants(config_path: Path) -> None:
    """List every grant with its status and queued messages.

    Example: hearth consent list
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from agent.consent.dp import held

    listed = ask(config_path, "consent.list")
    clock = clock_of(config_path)
    states = listed["grants"]
    table = Table(title=f"Consent grants (times in {clock.name})")
    # The id is what revoke, show and receipt take: it is never cut, whatever the terminal's width;
    # the other columns wrap instead of ending in an ellipsis (``show`` has every detail in full).
    table.add_column("id", no_wrap=True, min_width=max((len(s["grant"]["id"]) for s in states), default=2))
    for column in ("recipient", "strands", "granularity", "status", "given", "ends", "queued"):
        table.add_column(column, overflow="fold")
    noised = any(s["grant"].get("dp") for s in states)
    held_here = held() if noised else None
    if noised:
        table.add_column("noise, budget this period", overflow="fold")
    for s in states:
        g = s["grant"]
        ends = s["ended_at"] if s["ended_at"] is not None else g["expires_at"]
        row = [
            g["id"],
            escape(g["recipient"]),
            escape(", ".join(g["strands"])),
            g["granularity"],
            s["status"],
            clock.when(g["created_at"]),
            clock.when(ends),
            str(s["queued"]),
        ]
        if noised:
            noise = describe_budget(g["dp"], s["budget"]) if g.get("dp") else "exact"
            row.append(escape(f"{noise}; {held_here}" if g.get("dp") and held_here else noise))
        table.add_row(*row)
    Console().print(table if states else "no grants: nothing leaves this hub")
    for line in listed["destination"]:
        click.echo(line)


@consent.command()
@config_option
@click.argument("grant_id")
def show(config_path: Path, grant_id: str) -> None:
    """Show one grant in full.

    Example: hearth consent show g-1a2b3c4d5e6f
    """
    from agent.consent.dp import held
    from agent.consent.granularity import rounding

    state = ask(config_path, "consent.show", grant_id=grant_id)
    clock = clock_of(config_path)
    g = state["grant"]
    for key, value in (
        ("id", g["id"]),
        ("recipient", g["recipient"]),
        ("purpose", g["purpose"]),
        ("strands", ", ".join(g["strands"])),
        ("granularity", g["granularity"]),
        ("precision", "as measured" if g["precision"] is None else f"rounded to {rounding(g['precision'])}"),
        ("given", clock.stamp(g["created_at"])),
        ("expires", clock.stamp(g["expires_at"])),
        ("status", state["status"]),
        ("ended", clock.stamp(state["ended_at"])),
        ("queued messages", state["queued"]),
    ):
        click.echo(f"{key:>16}: {value}")
    if g.get("dp"):
        b = state["budget"]
        unit = b["unit"]
        click.echo(f"{'noise':>16}: {describe_policy(g['dp'])}")
        click.echo(
            f"{'budget spent':>16}: {b['spent']:.4g} of {b['cap']:g} {unit} this period"
            f" ({b['releases']} releases, {b['refused']} refused)"
        )
        click.echo(f"{'budget left':>16}: {b['left']:.4g} {unit}, renews {clock.stamp(b['period_end'])}")
        if why := held():
            click.echo(f"{'held':>16}: {why.removeprefix('held: ')}")


@consent.command()
@config_option
@click.argument("grant_id")
def revoke(config_path: Path, grant_id: str) -> None:
    """Revoke a grant now; its queued messages are purged, not sent.

    Example: hearth consent revoke g-1a2b3c4d5e6f
    """
    result = ask(config_path, "consent.revoke", grant_id=grant_id)
    click.echo(f"revoked {grant_id}; {result['purged']} queued messages purged unsent")
    for intent_id in result.get("intents", []):
        click.echo(f"intent {intent_id} showed its data: withdrawn")


@consent.command()
@config_option
@click.argument("grant_id")
def receipt(config_path: Path, grant_id: str) -> None:
    """Print the consent receipt (JSON) of a grant.

    Example: hearth consent receipt g-1a2b3c4d5e6f > receipt.json
    """
    click.echo(ask(config_path, "consent.receipt", grant_id=grant_id))
