"""``hearth demo``: the whole pipeline on simulated devices, then a summary of what was collected."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from agent.config import Config, HubClock

if TYPE_CHECKING:
    from rich.console import Console

    from agent.store.readings import ReadingsStore


@click.command()
@click.option(
    "--duration",
    type=click.FloatRange(min=1),
    default=30.0,
    show_default=True,
    help="Seconds to run.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the demo's data here (default: a temporary folder, removed afterwards).",
)
def demo(duration: float, data_dir: Path | None) -> None:
    """Run a demo hub on simulated devices for DURATION seconds and summarise what it collected.

    The demo runs its own MQTT broker and gives one example grant, then shows what was collected
    beside what left the home.

    Example: hearth demo --duration 30
    """
    import logging

    from agent.cli.logs import setup_logging
    from agent.demo import demo_config

    def show_rules() -> None:
        logging.getLogger("agent.rules").setLevel(logging.INFO)  # the demo shows its rule firing

    os.umask(0o077)
    if data_dir is None:
        with tempfile.TemporaryDirectory(prefix="hearth-demo-") as tmp:
            setup_logging(demo_config(Path(tmp)).log.level, "console")
            show_rules()
            asyncio.run(_with_broker(Path(tmp), duration))
        # The summary named files in it: say that they are gone, and how to keep them.
        click.echo(f"removed the demo's data folder {tmp}; keep it with --data-dir DIR")
    else:
        from agent.store.sqlite import ensure_private_dir

        ensure_private_dir(data_dir.resolve())
        setup_logging(demo_config(data_dir.resolve()).log.level, "console")
        show_rules()
        asyncio.run(_with_broker(data_dir.resolve(), duration))


async def _with_broker(data_dir: Path, duration: float) -> None:
    """Start the demo's own broker, give the example grant, run the demo, show what left the home."""
    from agent.cli.demo_upstream import give_demo_grant, show_side_by_side, watch_upstream
    from agent.demo import demo_config
    from agent.sync.demo_broker import demo_broker

    models = _models_available()
    async with demo_broker() as broker:
        if broker is None:
            click.echo("no MQTT broker available (install mosquitto or amqtt): nothing will leave the home")
            await _run_demo(demo_config(data_dir, board=True, models=models), duration)
            return
        upstream = {"host": "127.0.0.1", "port": broker.port, "protocol": broker.protocol}
        config = demo_config(data_dir, board=True, upstream=upstream, models=models)
        grant = give_demo_grant(config)
        click.echo(f"upstream broker: {broker.name} on 127.0.0.1:{broker.port}; example grant {grant}")
        async with watch_upstream(broker.port, broker.protocol) as left:
            await _run_demo(config, duration)
            await left.settle()
        show_side_by_side(config, left)


def _models_available() -> bool:
    """True if a model runtime loads here; otherwise say why the demo runs without its models."""
    from agent.inference.runtime import Interpreter, unavailable_here

    if Interpreter is not None:
        return True
    error = unavailable_here()
    click.echo(f"running without the on-device models: {error}", err=True)
    return False


async def _run_demo(config: Config, duration: float) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from agent.cli.status_cmd import print_status
    from agent.daemon import Agent
    from agent.demo import UNKNOWN_MODEL, adopt_demo_ble, demo_board, seed_history, teach_unknown_appliance
    from agent.store.readings import open_readings

    console = Console()
    console.print(f"[bold]Hearth demo[/bold]: hub {config.hub.id}, data in {config.hub.data_dir}")
    if any(m.name == UNKNOWN_MODEL for m in config.models):
        print_taught(await teach_unknown_appliance(config), console)
    board = demo_board(Path(config.hub.data_dir))
    await board.start()
    console.print(f"emulated serial board {board.board_id} on {board.tty_path}")
    agent = Agent(config, health_every=1.0)
    adopt_demo_ble(agent.store.conn)
    seed_history(agent.store)
    runner = asyncio.create_task(agent.run(), name="agent")
    await agent.started.wait()
    started = time.monotonic()
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("recording", total=duration)
        while (elapsed := time.monotonic() - started) < duration and not runner.done():
            progress.update(
                task,
                completed=elapsed,
                description=f"recording: {agent.recorder.committed} readings committed",
            )
            await asyncio.sleep(0.25)
    agent.stop()
    await runner
    await board.stop()
    store = open_readings(Path(config.hub.data_dir), read_only=True)
    try:
        clock = HubClock.of(config)
        print_status(store, hub_id=config.hub.id, clock=clock, rate_window_s=min(60.0, duration))
        print_context(store, console, clock)
        print_predictions(store, console, config)
        stored = store.count_readings()
        if stored:
            console.print(f"{store.file_bytes() / stored:.0f} bytes on disk per stored reading")
    finally:
        store.close()


def print_taught(result: dict[str, Any] | None, console: Console) -> None:
    """Say what the demo taught the hub before it started, and whether the hub kept what it learnt."""
    from agent.demo import SMART_PLUG_REPLAY_RATE, UNKNOWN_CLASS, UNKNOWN_MODEL, UNKNOWN_PLUG
    from agent.learning.outcome import said

    if result is None:
        console.print(f"{UNKNOWN_PLUG} already has history here: the hub keeps what it learnt before")
        return
    label, adaptation = result["label"], result["adaptation"]
    # The replay plays one 10 s sample of the plug every 1/SMART_PLUG_REPLAY_RATE s.
    hours = (label["end_ts"] - label["start_ts"]) * SMART_PLUG_REPLAY_RATE * 10 / 3600
    console.print(
        f"taught the hub: label {label['id']}, {UNKNOWN_PLUG} was a {UNKNOWN_CLASS} for {hours:.0f} h"
        " (replayed), an appliance the shipped model never saw"
    )
    card = adaptation.get("card")
    if not adaptation["adapted"] or card is None:
        console.print(f"  {said(adaptation)}")
        return
    accuracy = card["accuracy"]
    held = accuracy["held_out"]
    console.print(
        f"  {UNKNOWN_MODEL} v{adaptation['version']}: kept ({card['reason']}); held-out labels"
        f" {'-' if held is None else f'{held:.2f}'} (shipped {accuracy['held_out_before'] or 0:.2f}),"
        f" shipped test split {accuracy['test']:.2f} (shipped {accuracy['test_before']:.2f});"
        f" learnt in {card['fit_ms']:.0f} ms"
    )


def print_context(store: ReadingsStore, console: Console, clock: HubClock) -> None:
    """Show every context switch the on-device models recorded during the demo."""
    from rich.table import Table

    from agent.store import queries

    rows = queries.context_log(store.conn)
    table = Table(title=f"Context from on-device models (times in {clock.name})")
    for column in ("time", "strand", "label", "confidence"):
        table.add_column(column)
    for stream, ts, confidence, label in rows:
        when = clock.format(ts, "%H:%M:%S.%f")[:-4]
        table.add_row(when, stream, label or "", f"{confidence:.2f}")
    console.print(table)


def print_predictions(store: ReadingsStore, console: Console, config: Config) -> None:
    """Show the latest forecasts of each horizon, and the anomalies, the prediction layer recorded."""
    from rich.table import Table

    from agent.prediction.strands import ANOMALY, FORECAST, parse_interval
    from agent.store.forecasts import latest_of, readings_of, stream_units

    if config.prediction is None:
        return
    clock = HubClock.of(config)
    names = stream_units(store.conn)
    latest = latest_of(store.conn, [n for n in names if n.startswith(f"{FORECAST}.")])
    table = Table(title=f"Forecasts (from the hub's own history; times in {clock.name})")
    for column in ("strand", "made at", "forecast", "interval"):
        table.add_column(column, overflow="fold" if column == "strand" else "ellipsis")
    for strand, (ts, value, label) in sorted(latest.items()):
        interval = parse_interval(label)
        band = "" if interval is None else f"{interval.low:.1f} .. {interval.high:.1f} ({interval.level:.0%})"
        table.add_row(strand, clock.format(ts, "%H:%M"), f"{value:.1f}", band)
    console.print(table)
    anomalies = Table(title=f"Anomalies (times in {clock.name})")
    for column in ("strand", "time", "score", "what"):
        anomalies.add_column(column, overflow="fold" if column == "strand" else "ellipsis")
    for strand in sorted(n for n in names if n.startswith(f"{ANOMALY}.")):
        for ts, value, label in readings_of(store.conn, strand, since=0):
            state = f"{value:.2f}" if value else "back to normal"
            anomalies.add_row(strand, clock.format(ts, "%H:%M"), state, label or "")
    console.print(anomalies)
