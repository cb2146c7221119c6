"""The demo hub: a config of simulated devices that runs with nothing else installed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.config import Config, config_from_mapping

# The example grant the demo gives before it starts: what the owner might share with a heating advisor.
DEMO_GRANT = {
    "recipient": "energy-coop",
    "purpose": "heating advice",
    "strands": ["living_room.temperature"],
    "granularity": "summary:10s",
    "precision": 1,
}


def demo_config(data_dir: Path, upstream: dict[str, Any] | None = None) -> Config:
    """A hub with a living-room climate sensor and a kitchen smart plug, replayed from shipped data.

    ``upstream`` (host, port, protocol) points the hub at the demo's own broker.
    """
    extra: dict[str, Any] = {}
    if upstream is not None:
        extra["upstream"] = {"tls": False, "summarise_interval": "2s", "summary_lag": "1s", **upstream}
    return config_from_mapping(
        {
            **extra,
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
