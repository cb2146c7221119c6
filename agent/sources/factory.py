"""Build the configured sources; each source kind adds one branch here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.config.durations import seconds
from agent.config.schema import BleSourceConfig, SerialSourceConfig, SimulatedSourceConfig, SourceConfig
from agent.sources.base import Source
from agent.sources.simulated import SimulatedSource, load_table

if TYPE_CHECKING:
    from agent.sources.ble.gatt import GattConnector, GattDevice


def build_source(config: SourceConfig) -> Source:
    """Turn one ``[[sources]]`` entry into a ready-to-run source (raising ConfigError if it cannot)."""
    if isinstance(config, SimulatedSourceConfig):
        table = load_table(config.name, config.file)
        return SimulatedSource(
            config.name, table, rate=config.rate, loop=config.loop, overflow=config.overflow
        )
    if isinstance(config, SerialSourceConfig):
        from agent.sources.serial import SerialSource

        return SerialSource(config)
    if isinstance(config, BleSourceConfig):
        return _build_ble(config)
    raise TypeError(f"no source for {type(config).__name__}")  # pragma: no cover - schema guards


def _build_ble(config: BleSourceConfig) -> Source:
    from agent.sources.ble import BleSource
    from agent.sources.ble.advert import AdvertScanner

    scanner: AdvertScanner
    if config.simulate:
        from agent.sources.ble.simulated import ReplayScanner

        scanner = ReplayScanner()
    else:
        from agent.sources.ble.scanner import BleakAdvertScanner

        scanner = BleakAdvertScanner(config.adapter, config.scanning)
    gatt: list[GattDevice] = []
    connector: GattConnector | None = None
    if config.gatt:  # the GATT stack (board protocol, cbor2: ~3 MB) only for hubs that connect to devices
        from agent.sources.ble.gatt import BleakGattConnector, GattDevice

        gatt = [
            GattDevice(
                g.name,
                g.address.upper(),
                tuple(g.services),
                seconds(g.poll_interval),
                nus_mode=g.nus_mode,
                command_timeout=seconds(g.command_timeout),
                command_retries=g.command_retries,
            )
            for g in config.gatt
        ]
        connector = BleakGattConnector(config.adapter)
    return BleSource(
        config.name,
        scanner,
        adapter=config.adapter,
        silence_timeout=seconds(config.silence_timeout),
        reset_after=config.reset_after,
        dedup_cap=config.dedup_cap,
        adoption_refresh=seconds(config.adoption_refresh),
        gatt_devices=gatt,
        connector=connector,
        max_connections=config.max_connections,
        overflow=config.overflow,
    )
