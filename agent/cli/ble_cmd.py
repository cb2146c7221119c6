"""``hearth ble``: find nearby BLE sensors, adopt the owner's, forget them again."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import click

from agent.cli.consent_cmd import ask
from agent.cli.options import config_option

if TYPE_CHECKING:
    from agent.config import Config
    from agent.config.schema import BleSourceConfig
    from agent.sources.ble.advert import AdvertScanner
    from agent.sources.ble.discovery import Candidate


@click.group()
def ble() -> None:
    """Discover, adopt and forget BLE devices (only adopted devices are recorded)."""


def _ble_config(config: Config) -> BleSourceConfig | None:
    from agent.config.schema import BleSourceConfig

    return next((s for s in config.sources if isinstance(s, BleSourceConfig)), None)


@ble.command()
@config_option
@click.option(
    "--seconds",
    type=click.FloatRange(min=1, max=600),
    default=10.0,
    show_default=True,
    help="How long to listen.",
)
def discover(config_path: Path, seconds: float) -> None:
    """List advertising devices nearby (address, name, type, RSSI); stores nothing.

    Example: hearth ble discover --seconds 15
    """
    from rich.console import Console
    from rich.table import Table

    from agent.config import load_config
    from agent.sources.ble.scanner import BleakAdvertScanner
    from agent.sources.ble.simulated import ReplayScanner

    cfg = load_config(config_path)
    source = _ble_config(cfg)
    scanner: AdvertScanner
    if source is not None and source.simulate:
        scanner = ReplayScanner(interval=0.5)
    else:
        scanner = BleakAdvertScanner(
            source.adapter if source else "hci0", "active" if source is None else source.scanning
        )
    candidates = asyncio.run(_discover(scanner, seconds))
    table = Table(title=f"BLE devices heard in {seconds:g} s (nothing was stored)")
    for column in ("address", "name", "type", "RSSI", "adverts"):
        table.add_column(column, justify="right" if column in {"RSSI", "adverts"} else "left")
    for c in candidates:
        table.add_row(c.address, c.name or "", c.kind or "", str(c.rssi), str(c.adverts))
    Console().print(table)
    click.echo("Adopt one with: hearth ble adopt ADDRESS --name NAME [--bindkey KEY]")


async def _discover(scanner: AdvertScanner, seconds: float) -> list[Candidate]:
    from agent.errors import SourceError
    from agent.sources.ble.discovery import discover

    try:
        return await discover(scanner, seconds)
    except Exception as exc:
        raise SourceError(
            f"cannot scan for BLE devices: {exc}",
            hint="is bluetoothd running, the adapter present and powered (bluetoothctl show)?",
        ) from exc


@ble.command()
@config_option
@click.argument("address")
@click.option("--name", required=True, help="Your name for the device; its streams are NAME.quantity.")
@click.option(
    "--bindkey",
    default=None,
    help="Encryption key (hex) for encrypted BTHome/Xiaomi adverts. Kept in the 0600 data file only.",
)
def adopt(config_path: Path, address: str, name: str, bindkey: str | None) -> None:
    """Adopt the device at ADDRESS so the hub records it as NAME.

    Example: hearth ble adopt A4:C1:38:8D:18:B2 --name bedroom
    """
    from agent.sources.ble.adoption import check_name, normalise_address, parse_bindkey

    # Checked here too, so a mistake is reported without reaching the hub (and never echoes the key).
    normalise_address(address)
    check_name(name)
    if bindkey is not None:
        parse_bindkey(bindkey)
    adopted = ask(config_path, "ble.adopt", address=address, name=name, bindkey=bindkey)
    encrypted = " (with bindkey)" if adopted["encrypted"] else ""
    click.echo(f"adopted {adopted['address']} as {adopted['name']}{encrypted}")


@ble.command()
@config_option
@click.argument("name")
def forget(config_path: Path, name: str) -> None:
    """Forget adopted device NAME and erase its streams and readings.

    Example: hearth ble forget bedroom
    """
    erased = ask(config_path, "ble.forget", name=name)["erased"]
    click.echo(f"forgot {name}: erased {erased} readings")


@ble.command("list")
@config_option
def list_adopted(config_path: Path) -> None:
    """List adopted BLE devices (bindkeys are never shown).

    Example: hearth ble list
    """
    adoptions = ask(config_path, "ble.list")
    if not adoptions:
        click.echo("no BLE devices adopted; find some with: hearth ble discover")
    for a in adoptions:
        kind = "encrypted" if a["encrypted"] else "plain"
        click.echo(f"{a['name']}\t{a['address']}\t{kind}\tadopted {a['adopted_at']}")
