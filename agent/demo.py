"""The demo hub: a config of simulated devices that runs with nothing else installed."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from agent.config import Config, config_from_mapping
from agent.config.schema import SerialSourceConfig

if TYPE_CHECKING:
    from firmware_bridge.emulator import BoardEmulator

# The emulated workbench board's pty is reached through this link in the data dir.
DEMO_BOARD_LINK = "workbench-board"

SMART_PLUG_REPLAY_RATE = 292.0  # rows/s: one 1460-sample ACSF1 series every 5 s

# The example grant the demo gives before it starts: what the owner might share with a heating advisor.
DEMO_GRANT = {
    "recipient": "energy-coop",
    "purpose": "heating advice",
    "strands": ["living_room.temperature"],
    "granularity": "summary:10s",
    "precision": 1,
}


def demo_board(data_dir: Path) -> BoardEmulator:
    """The demo's emulated serial board (a climate sensor on a pty), linked at ``DEMO_BOARD_LINK``."""
    from firmware_bridge.emulator import BoardEmulator

    return BoardEmulator.from_csv(
        "builtin:climate.csv", rate=4.0, board_id="workbench-1", link=data_dir / DEMO_BOARD_LINK
    )


def demo_config(
    data_dir: Path, *, board: bool = False, upstream: dict[str, Any] | None = None, models: bool = True
) -> Config:
    """A hub with a climate sensor, two smart plugs and a wrist IMU, replayed from shipped data.

    With ``board``, also the workbench board of ``demo_board``, read through the real serial source;
    ``upstream`` (host, port, protocol) points the hub at the demo's own broker; without ``models``, no
    on-device models (for a platform without a model runtime).
    """
    extra: dict[str, Any] = {}
    if upstream is not None:
        extra["upstream"] = {"tls": False, "summarise_interval": "2s", "summary_lag": "1s", **upstream}
    config = config_from_mapping(
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
                    # Recorded at 5 Hz, replayed 4x fast so the kettle boils within a 30 s demo.
                    "rate": 20.0,
                },
                {"kind": "ble", "name": "ble", "simulate": True, "adoption_refresh": "1s"},
                # Held-out test data of the shipped models (see models/*/MODEL_CARD.md).
                {"kind": "simulated", "name": "wrist", "file": "builtin:wrist_imu_test.csv", "rate": 10.0},
                {
                    "kind": "simulated",
                    "name": "smart_plug",
                    "file": "builtin:smart_plug_test.csv",
                    "rate": SMART_PLUG_REPLAY_RATE,
                },
            ],
            "models": [
                {
                    "name": "activity",
                    "model": "builtin:activity",
                    "inputs": {
                        q: f"wrist.{q}" for q in ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
                    },
                    "debounce": 1,
                },
                {
                    "name": "appliance",
                    "model": "builtin:appliance",
                    "inputs": {"power": "smart_plug.power"},
                    "debounce": 1,
                    # The plug's 4-hour recordings are replayed 2920 times faster than real time.
                    "input_rate": SMART_PLUG_REPLAY_RATE,
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
    if not models:
        config = msgspec.structs.replace(config, models=[])
    if board:
        workbench = SerialSourceConfig(
            name="workbench", port=str(data_dir / DEMO_BOARD_LINK), board_id="workbench-1"
        )
        config = msgspec.structs.replace(config, sources=[*config.sources, workbench])
    return config


def adopt_demo_ble(conn: sqlite3.Connection) -> list[str]:
    """Adopt the simulated BLE sensors (as an owner would with ``hearth ble adopt``); return names."""
    from agent.sources.ble.adoption import AdoptionStore
    from agent.sources.ble.simulated import DEMO_DEVICES

    store = AdoptionStore(conn)
    return [store.adopt(d.address, d.suggested_name).name for d in DEMO_DEVICES]
