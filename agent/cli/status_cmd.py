"""``hearth status``: what the hub is recording, read from its data files."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from agent.cli.options import config_option

if TYPE_CHECKING:
    from agent.config import HubClock
    from agent.store.readings import ReadingsStore


@click.command()
@config_option
def status(config_path: Path) -> None:
    """Show sources, streams with their last values and rates, drops, and data file sizes.

    Example: hearth status -c /etc/hearth/hearth.toml
    """
    from agent.config import HubClock, load_config
    from agent.errors import StoreError
    from agent.store.readings import open_readings

    cfg = load_config(config_path)
    clock = HubClock.of(cfg)
    data_dir = Path(cfg.hub.data_dir)
    waiting = print_live(live_store(data_dir), data_dir, clock)
    try:
        store = open_readings(Path(cfg.hub.data_dir), read_only=True)
    except StoreError:
        if waiting:
            return  # nothing on file to show yet (or no room to read it): the line above says why
        raise
    try:
        print_status(store, hub_id=cfg.hub.id, clock=clock)
    finally:
        store.close()


def live_store(data_dir: Path) -> dict[str, Any] | None:
    """The running hub's recorder now (None when no hub runs there)."""
    from agent.control import wire
    from agent.control.client import ask_running_hub

    reply = ask_running_hub(data_dir, wire.Request("store.status"))
    if reply is None:
        return None
    live: dict[str, Any] | None = wire.result_of(reply)
    return live


def print_live(live: dict[str, Any] | None, data_dir: Path, clock: HubClock) -> bool:
    """One line on the running hub's recorder: committing, or why not (a full or read-only disk).

    True when no hub runs because the data folder is read-only or its disk full (a hub started there waits).
    """
    from rich.console import Console

    from agent.store.lock import read_only
    from agent.store.sqlite import disk_full, disk_full_problem, read_only_problem

    console = Console()
    # A hub started on a read-only folder cannot even make its control socket, nor open its files on a
    # full disk: it waits, and says so to systemd.
    if live is None and read_only(data_dir):
        console.print(
            f"[bold red]NOT RECORDING: {read_only_problem(data_dir)}.[/] A hub started on it waits and"
            " starts recording by itself once the folder is writable again (journalctl -u hearth)."
        )
        return True
    if live is None and disk_full(data_dir):
        console.print(
            f"[bold red]NOT RECORDING: {disk_full_problem(data_dir)}.[/] A hub started on it waits and"
            " starts recording by itself once there is room on that disk again (journalctl -u hearth)."
        )
        return True
    if live is None:
        console.print("no hub is running on this data folder")
        return False
    dropped = sum(live["dropped"].values())
    if live["error"] is None:
        console.print(
            f"hub running: {live['committed']} readings committed since it started,"
            f" {live['queued']} waiting, {dropped} dropped"
        )
        return False
    since = clock.stamp(live["since"])
    by_source = ", ".join(f"{name} {n}" for name, n in live["dropped"].items() if n)
    console.print(
        f"[bold red]NOT COMMITTING READINGS since {since}: {live['error']}.[/] {live['queued']} readings"
        f" waiting in memory, {dropped} dropped by the sources' overflow policies"
        f"{f' ({by_source})' if by_source else ''}; the hub retries by itself and resumes when it can write."
    )
    return False


def print_status(store: ReadingsStore, *, hub_id: str, clock: HubClock, rate_window_s: float = 60.0) -> None:
    """Render the status tables for ``store``."""
    from rich.console import Console
    from rich.table import Table

    from agent.learning import strand

    console = Console()
    now = time.time()
    sources = Table(title=f"Sources of hub {hub_id}")
    for column in ("source", "kind", "state", "accepted", "dropped", "restarts", "last error"):
        sources.add_column(
            column,
            justify="right" if column in {"accepted", "dropped", "restarts"} else "left",
            # On a narrow terminal a name wraps rather than losing the end that tells it from the others.
            overflow="fold" if column == "source" else "ellipsis",
        )
    for row in store.source_health():
        sources.add_row(
            row["name"],
            row["kind"],
            row["state"],
            str(row["accepted"]),
            str(row["dropped"]),
            str(row["restarts"]),
            row["last_error"] or "",
        )
    console.print(sources)
    for row in store.source_health():
        counters = ", ".join(f"{key} {value}" for key, value in row["stats"].items() if value)
        if counters:
            console.print(f"{row['name']}: {counters}")
    streams = Table(title=f"Streams (times in {clock.name})")
    for column in ("stream", "device", "last value", "unit", "last seen", "readings/s"):
        streams.add_column(column, overflow="fold" if column == "stream" else "ellipsis")
    for row in store.stream_overview(now=now, rate_window_s=rate_window_s):
        value = "" if row["last_value"] is None else f"{row['last_value']:.4g}"
        if row["last_label"]:
            label = row["last_label"]
            if strand.model_of(row["stream"]) is not None:
                label = strand.on_clock(label, clock)  # the reading keeps the span in UTC, as it leaves
            value = f"{label} ({value})"
        seen = "" if row["last_ts"] is None else clock.when(row["last_ts"])
        streams.add_row(row["stream"], row["device"], value, row["unit"], seen, f"{row['rate']:.2f}")
    console.print(streams)
    size_mb = store.file_bytes() / 1e6
    console.print(f"{store.count_readings()} raw readings; readings file {size_mb:.2f} MB at {store.path}")
