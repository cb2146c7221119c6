"""``hearth label``: the owner says what a span of time was, and the hub adapts its model to it."""

from __future__ import annotations

import math
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from agent.cli.consent_cmd import ask, clock_of
from agent.cli.options import config_option

if TYPE_CHECKING:
    from agent.config import HubClock


class Moment(click.ParamType):  # type: ignore[type-arg]
    """A point in time: ISO 8601 (``2026-12-02T14:30``, in ``hub.timezone`` unless it names a zone) or unix
    seconds. It converts to unix seconds, or to a datetime that ``seconds_of`` places once the config is read
    (a naive one is the hub's time)."""

    name = "time"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float | datetime:
        if isinstance(value, float | datetime):
            return value
        text = str(value).strip()
        try:
            seconds = float(text)
        except ValueError:
            try:
                return datetime.fromisoformat(text)
            except ValueError:
                seconds = math.nan
        if not math.isfinite(seconds):  # float() takes nan and inf too
            self.fail(
                f"{text!r} is not a time: use 2026-12-02T14:30 (hub.timezone) or unix seconds", param, ctx
            )
        return seconds


def seconds_of(moment: float | datetime, clock: HubClock) -> float:
    """Unix seconds of what ``Moment`` read; a time without a zone is in ``clock``'s zone."""
    return moment if isinstance(moment, float) else clock.instant(moment)


def describe(adaptation: dict[str, Any]) -> list[str]:
    """Lines saying what an adaptation did: the version it recorded, or why the running one stays."""
    from agent.learning.outcome import said

    name = adaptation["model"]
    lines = [said(adaptation)]
    card = adaptation.get("card")
    if card is None:
        return lines
    acc = card["accuracy"]
    held = (
        "no held-out labels"
        if acc["held_out"] is None
        else f"held-out labels {acc['held_out']:.2f} (was {acc['held_out_before']:.2f})"
    )
    what = "learnt" if adaptation["adapted"] else "the new head learnt"
    lines += [
        f"  {what} from {card['windows']['fit']} windows ({card['windows']['held_out']} held out) in"
        f" {card['fit_ms']:.0f} ms; {held};",
        f"  shipped test split {acc['test']:.2f} (was {acc['test_before']:.2f})",
    ]
    if card["new_classes"]:
        lines.append(f"  new classes: {', '.join(card['new_classes'])}")
    if adaptation["adapted"]:
        lines.append(f"  {name} runs version {adaptation['running']} (0: as shipped)")
    return lines


@click.group()
def label() -> None:
    """Label spans of time ("this was X") so the hub's models learn from you, on the hub."""


@label.command()
@config_option
@click.argument("model")
@click.argument("cls", metavar="CLASS")
@click.option(
    "--from",
    "start",
    type=Moment(),
    required=True,
    help="Start of the span (ISO time, hub's zone; or unix s).",
)
@click.option(
    "--to", "end", type=Moment(), required=True, help="End of the span (ISO time, hub's zone; or unix s)."
)
def add(config_path: Path, model: str, cls: str, start: float | datetime, end: float | datetime) -> None:
    """Label a span of time as CLASS (known to MODEL or new), then adapt MODEL from every label.

    Times without a zone are in the hub's time zone (hub.timezone), whatever the machine's own zone is.

    Example: hearth label add appliance heat_pump --from 2026-12-02T14:00 --to 2026-12-02T18:00
    """
    clock = clock_of(config_path)
    start_ts, end_ts = seconds_of(start, clock), seconds_of(end, clock)
    result = ask(config_path, "label.add", model=model, start_ts=start_ts, end_ts=end_ts, cls=cls)
    made = result["label"]
    click.echo(
        f"label {made['id']}: {made['model']} was {made['class']}"
        f" from {clock.stamp(start_ts)} to {clock.stamp(end_ts)}"
    )
    if result["windows"] == 0:
        click.echo(
            f"  no complete window of {made['model']}'s inputs was recorded in its span,"
            " so it teaches nothing now",
            err=True,
        )
        now = time.time()
        if start_ts > now:  # a time typed on another clock than the hub's, most likely
            click.echo(
                f"  it starts after now ({clock.stamp(now)}): times without a zone are in {clock.name}",
                err=True,
            )
    for line in describe(result["adaptation"]):
        click.echo(line)


@label.command("list")
@config_option
@click.option("--model", default=None, help="Only this model's labels.")
def list_labels(config_path: Path, model: str | None) -> None:
    """List your labels with their ids.

    Example: hearth label list --model activity
    """
    listed = ask(config_path, "label.list", model=model)
    clock = clock_of(config_path)
    if not listed:
        click.echo("no labels")
    for made in listed:
        click.echo(
            f"{made['id']:>5}  {made['model']:<12} {made['class']:<20} {clock.stamp(made['start_ts'])} .. "
            f"{clock.stamp(made['end_ts'])}"
        )


@label.command()
@config_option
@click.argument("label_id", type=int)
def remove(config_path: Path, label_id: int) -> None:
    """Remove label LABEL_ID, then adapt its model afresh from the labels left.

    Example: hearth label remove 3
    """
    result = ask(config_path, "label.remove", label_id=label_id)
    made = result["label"]
    click.echo(f"removed label {made['id']} ({made['model']}: {made['class']})")
    for line in describe(result["adaptation"]):
        click.echo(line)
