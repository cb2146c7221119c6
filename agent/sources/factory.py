"""Build the configured sources; each source kind adds one branch here."""

from __future__ import annotations

from agent.config.schema import SerialSourceConfig, SimulatedSourceConfig, SourceConfig
from agent.sources.base import Source
from agent.sources.simulated import SimulatedSource, load_table


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
    raise TypeError(f"no source for {type(config).__name__}")  # pragma: no cover - schema guards
