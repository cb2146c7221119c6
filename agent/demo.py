"""The demo hub: a config of simulated devices that runs with nothing else installed."""

from __future__ import annotations

from pathlib import Path

from agent.config import Config, config_from_mapping


def demo_config(data_dir: Path) -> Config:
    """A hub with a living-room climate sensor and a kitchen smart plug, replayed from shipped data."""
    return config_from_mapping(
        {
            "hub": {"id": "demo-hub", "name": "Demo hub", "data_dir": str(data_dir)},
            "store": {"flush_interval": "100ms"},
            "log": {"level": "warning"},
            "sources": [
                {
                    "kind": "simulated",
                    "name": "living_room",
                    "file": "builtin:climate.csv",
                    "rate": 2.0,
                },
                {
                    "kind": "simulated",
                    "name": "kitchen_plug",
                    "file": "builtin:kettle_plug.csv",
                    "rate": 5.0,
                },
            ],
        },
        source="demo",
    )
