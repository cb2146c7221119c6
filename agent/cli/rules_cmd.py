"""``hearth rules``: list the configured rules, replay recorded data through them."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click

_CONFIG = click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The hub's config file.",
)


@click.group()
def rules() -> None:
    """Inspect and try out the hub's local rules."""


@rules.command("list")
@_CONFIG
def list_rules(config_path: Path) -> None:
    """Show each rule's condition and actions.

    Example: hearth rules list -c /etc/hearth/hearth.toml
    """
    from rich.console import Console
    from rich.table import Table

    from agent.config import load_config
    from agent.rules.replay import describe_action, describe_condition

    config = load_config(config_path)
    table = Table(title=f"rules of hub {config.hub.id}")
    table.add_column("rule")
    table.add_column("when")
    table.add_column("then")
    for rule in config.rules:
        name = rule.name if rule.enabled else f"{rule.name} (disabled)"
        table.add_row(
            name, describe_condition(rule.when), "\n".join(describe_action(a) for a in rule.actions)
        )
    Console().print(table)


@rules.command("test")
@_CONFIG
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def test_rules(config_path: Path, file: Path) -> None:
    """Replay FILE (CSV: ts, stream, value[, label]) through the rules; show what fires, and when.

    Nothing is published or sent: actions are only listed.

    Example: hearth rules test -c hearth.toml kettle-morning.csv
    """
    from rich.console import Console
    from rich.table import Table

    from agent.config import load_config
    from agent.rules.engine import RuleEngine
    from agent.rules.replay import describe_action, read_csv, replay

    config = load_config(config_path)
    tz = ZoneInfo(config.hub.timezone)
    readings = read_csv(file, tz)
    engine = RuleEngine(config.rules, tz)
    unknown = sorted({r.stream for r in readings if not engine.watches(r.stream)})
    fired = list(replay(engine, readings))
    console = Console()
    table = Table(title=f"{len(fired)} actions from {len(readings)} readings ({config.hub.timezone})")
    table.add_column("time")
    table.add_column("rule")
    table.add_column("action")
    table.add_column("latest reading")
    for intent in fired:
        when = datetime.fromtimestamp(intent.ts, tz).isoformat(sep=" ", timespec="milliseconds")
        trigger = intent.trigger
        cause = ""
        if trigger is not None:
            cause = f"{trigger.stream} = {trigger.value:g}" + (f" ({trigger.label})" if trigger.label else "")
        table.add_row(when, intent.rule, describe_action(intent.action), cause)
    console.print(table)
    if unknown:
        console.print(f"no rule reads: {', '.join(unknown)}", style="dim")
