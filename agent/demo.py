"""The demo hub: a config of simulated devices that runs with nothing else installed."""

from __future__ import annotations

from pathlib import Path

from agent.config import Config, config_from_mapping


def demo_config(data_dir: Path) -> Config:
    """A hub with a climate sensor and a kitchen smart plug replayed from shipped data, and one rule."""
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
                    # Recorded at 5 Hz, replayed 4x fast so the kettle boils within a 30 s demo.
                    "rate": 20.0,
                },
            ],
            "rules": [
                {
                    "name": "kettle-on",
                    "when": {"stream": "kitchen_plug.power", "above": 1500, "hysteresis": 200, "for": "10s"},
                    "actions": [{"kind": "log", "message": "kettle is on ({value} W)"}],
                }
            ],
        },
        source="demo",
    )
