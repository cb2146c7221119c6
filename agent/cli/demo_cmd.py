"""``hearth demo``: the whole pipeline on simulated devices, then a summary of what was collected."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from agent.config import Config

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

    Example: hearth demo --duration 20
    """
    import logging

    from agent.cli.logs import setup_logging
    from agent.demo import demo_config

    def show_rules() -> None:
        logging.getLogger("agent.rules").setLevel(logging.INFO)  # the demo shows its rule firing

    os.umask(0o077)
    if data_dir is None:
        with tempfile.TemporaryDirectory(prefix="hearth-demo-") as tmp:
            config = demo_config(Path(tmp), board=True)
            setup_logging(config.log.level, "console")
            show_rules()
            asyncio.run(_run_demo(config, duration))
    else:
        from agent.store.sqlite import ensure_private_dir

        ensure_private_dir(data_dir.resolve())
        config = demo_config(data_dir.resolve(), board=True)
        setup_logging(config.log.level, "console")
        show_rules()
        asyncio.run(_run_demo(config, duration))


async def _run_demo(config: Config, duration: float) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from agent.cli.status_cmd import print_status
    from agent.daemon import Agent
    from agent.demo import adopt_demo_ble, demo_board
    from agent.store.readings import open_readings

    console = Console()
    console.print(f"[bold]Hearth demo[/bold]: hub {config.hub.id}, data in {config.hub.data_dir}")
    board = demo_board(Path(config.hub.data_dir))
    await board.start()
    console.print(f"emulated serial board {board.board_id} on {board.tty_path}")
    agent = Agent(config, health_every=1.0)
    adopt_demo_ble(agent.store.conn)
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
        print_status(store, hub_id=config.hub.id, rate_window_s=min(60.0, duration))
        print_context(store, console)
        stored = store.count_readings()
        if stored:
            console.print(f"{store.file_bytes() / stored:.0f} bytes on disk per stored reading")
    finally:
        store.close()


def print_context(store: ReadingsStore, console: Console) -> None:
    """Show every context switch the on-device models recorded during the demo."""
    from datetime import datetime

    from rich.table import Table

    rows = list(
        store.db.query(
            "SELECT s.name AS stream, r.ts, r.value, r.label FROM readings r "
            "JOIN streams s ON s.id = r.stream_id WHERE s.kind = 'context' ORDER BY r.ts"
        )
    )
    table = Table(title="Context from on-device models")
    for column in ("time", "strand", "label", "confidence"):
        table.add_column(column)
    for row in rows:
        when = datetime.fromtimestamp(row["ts"]).strftime("%H:%M:%S.%f")[:-4]
        table.add_row(when, row["stream"], row["label"] or "", f"{row['value']:.2f}")
    console.print(table)
