"""The demo hub: a config of simulated devices that runs with nothing else installed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from agent.config import Config, config_from_mapping


def demo_config(data_dir: Path) -> Config:
    """A hub with a climate sensor and a smart plug replayed from shipped data, and simulated BLE sensors."""
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
                {"kind": "ble", "name": "ble", "simulate": True, "adoption_refresh": "1s"},
            ],
        },
        source="demo",
    )


def adopt_demo_ble(conn: sqlite3.Connection) -> list[str]:
    """Adopt the simulated BLE sensors (as an owner would with ``hearth ble adopt``); return names."""
    from agent.sources.ble.adoption import AdoptionStore
    from agent.sources.ble.simulated import DEMO_DEVICES

    store = AdoptionStore(conn)
    return [store.adopt(d.address, d.suggested_name).name for d in DEMO_DEVICES]
