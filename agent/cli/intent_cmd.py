"""``hearth intent``: the owner asks the market for offers, reads them, answers one, withdraws."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click

from agent.cli.consent_cmd import ask, clock_of
from agent.cli.options import config_option


@click.group()
def intent() -> None:
    """Announce what you want offers for, without saying who you are (see docs/intents.md)."""


def _problem(view: dict[str, Any]) -> None:
    if view.get("problem"):
        click.echo(
            f"note: {view['problem']}\n"
            f"  the ledger keeps it; `hearth intent show {view['id'][:8]}` tries again"
        )


@intent.command()
@config_option
@click.option(
    "--category", required=True, help="What it is about: heating, solar, energy... (docs/intents.md)."
)
@click.option("--text", required=True, help="What you want, in plain words (at most 280 characters).")
@click.option("--lifetime", default="14d", show_default=True, help="How long it stays up (1s to 90d).")
@click.option(
    "--show",
    "show",
    multiple=True,
    help="A stream whose summaries go with it; a grant to the recipient 'market' must cover it. Repeatable.",
)
@click.option("--windows", type=int, default=24, show_default=True, help="How many summary windows to show.")
@click.option(
    "--via",
    type=click.Choice(["market", "upstream"]),
    default="market",
    show_default=True,
    help="Publish on the [market] broker or the [upstream] one.",
)
def create(
    *,
    config_path: Path,
    category: str,
    text: str,
    lifetime: str,
    show: tuple[str, ...],
    windows: int,
    via: str,
) -> None:
    """Publish an intent: a category, your words, and only the data a market grant lets go.

    Example: hearth intent create --category heating --text "offers for an air-to-water heat pump"
    --lifetime 14d --show living_room.temperature
    """
    from agent.config.durations import PATTERN, seconds
    from agent.errors import IntentError

    if not re.fullmatch(PATTERN, lifetime):
        raise IntentError(f"invalid --lifetime {lifetime!r}", hint="use a duration such as 14d or 12h")
    view = ask(
        config_path,
        "intent.create",
        category=category,
        text=text,
        lifetime_s=seconds(lifetime),
        show=list(show),
        windows=windows,
        via=via,
    )
    until = clock_of(config_path).stamp(view["expires_at"])
    click.echo(f"intent {view['id']}: {view['category']} — {view['text']}")
    click.echo(f"  {view['status']} on {view['broker']} at {view['topic']} until {until}")
    shown = ", ".join(d["stream"] for d in view["data"]) or "no data"
    click.echo(f"  shows {shown}; offers come back on {view['reply_topic']}")
    _problem(view)


@intent.command("list")
@config_option
def list_intents(config_path: Path) -> None:
    """List every intent with its status and offers.

    Example: hearth intent list
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    views = ask(config_path, "intent.list")
    clock = clock_of(config_path)
    table = Table(title=f"Intents (times in {clock.name})")
    # The first 12 characters of an id: every intent command takes them (or any unambiguous start).
    for column in ("id", "category", "status", "until", "offers"):
        table.add_column(column, no_wrap=True)
    table.add_column("text", overflow="fold")
    for v in views:
        dropped = sum(v["dropped"].values())
        table.add_row(
            v["id"][:12],
            v["category"],
            v["status"],
            clock.when(v["ended_at"] or v["expires_at"])[:16],
            f"{v['offers']}" + (f" (+{dropped} dropped)" if dropped else ""),
            escape(v["text"]),
        )
    Console().print(table)


@intent.command()
@config_option
@click.argument("intent_id")
@click.option("--no-fetch", is_flag=True, help="Show what the ledger holds without asking the market.")
def show(config_path: Path, intent_id: str, no_fetch: bool) -> None:
    """Show an intent, what it published, and the offers that came (collected from the market first).

    Offers are shown as text: links are never opened. Example: hearth intent show 3f2a
    """
    view = ask(config_path, "intent.show", intent_id=intent_id, fetch=not no_fetch)
    when = clock_of(config_path).stamp
    click.echo(f"intent {view['id']} ({view['status']})")
    click.echo(f"  category:  {view['category']}")
    click.echo(f"  text:      {view['text']}")
    click.echo(f"  where:     {view['broker']} {view['topic']} (offers on {view['reply_topic']})")
    click.echo(f"  made:      {when(view['created_at'])}; published {when(view['published_at'])}")
    click.echo(
        f"  ends:      {when(view['ended_at'] or view['expires_at'])}; cleared {when(view['cleared_at'])}"
    )
    click.echo(f"  grants:    {', '.join(view['grants']) or 'none (no data shown)'}")
    for entry in view["data"]:
        windows = entry["summaries"]
        noised = next((f", noised ({w['dp']['mechanism']})" for w in windows if "dp" in w), "")
        shown = f"{entry['stream']} as {entry['granularity']}, {len(windows)} windows{noised}"
        click.echo(f"  shows:     {shown}")
    dropped = view["dropped"]
    click.echo(
        f"  offers:    {view['offers']} kept; dropped {dropped['size']} too large, {dropped['rate']} over the"
        f" rate, {dropped['full']} with the inbox full, {dropped['invalid']} malformed"
    )
    for item in view["inbox"]:
        offer = item["offer"]
        click.echo(f"\n  offer {item['number']} from {offer['vendor']!r} at {when(item['received_at'])}")
        if offer.get("price"):
            click.echo(f"    price: {offer['price']}")
        for line in offer["text"].splitlines():
            click.echo(f"    {line}")
        for link in offer.get("links", []):
            click.echo(f"    link (not opened): {json.dumps(link)}")
        if item["answer"] is not None:
            sent = "sent" if item["answer_sent_at"] is not None else "not sent yet"
            click.echo(f"    your answer ({sent}): {item['answer']}")
        elif offer.get("reply_to"):
            click.echo(f"    answer with: hearth intent answer {view['id'][:8]} {item['number']} --text ...")
    _problem(view)


@intent.command()
@config_option
@click.argument("intent_id")
def withdraw(config_path: Path, intent_id: str) -> None:
    """End an intent now and clear it from the market.

    Example: hearth intent withdraw 3f2a
    """
    view = ask(config_path, "intent.withdraw", intent_id=intent_id)
    cleared = "cleared from the market" if view["cleared_at"] else "not yet cleared from the market"
    click.echo(f"withdrew intent {view['id']}: {cleared}")
    _problem(view)


@intent.command()
@config_option
@click.argument("intent_id")
@click.argument("offer", type=int)
@click.option("--text", required=True, help="Your answer: the only thing it reveals.")
def answer(config_path: Path, intent_id: str, offer: int, text: str) -> None:
    """Answer offer OFFER of an intent; the vendor sees your words and nothing else.

    Example: hearth intent answer 3f2a 2 --text "Please call 0123 456789 on weekdays"
    """
    view = ask(config_path, "intent.answer", intent_id=intent_id, offer=offer, text=text)
    click.echo(f"answered offer {offer} of intent {view['id']} on {view['answer_topic']}")
    _problem(view)
