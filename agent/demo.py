"""The demo hub: a config of simulated devices that runs with nothing else installed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from agent.config import Config, config_from_mapping
from agent.config.schema import SerialSourceConfig

if TYPE_CHECKING:
    from firmware_bridge.emulator import BoardEmulator

# The emulated workbench board's pty is reached through this link in the data dir.
DEMO_BOARD_LINK = "workbench-board"


def demo_board(data_dir: Path) -> BoardEmulator:
    """The demo's emulated serial board (a climate sensor on a pty), linked at ``DEMO_BOARD_LINK``."""
    from firmware_bridge.emulator import BoardEmulator

    return BoardEmulator.from_csv(
        "builtin:climate.csv", rate=4.0, board_id="workbench-1", link=data_dir / DEMO_BOARD_LINK
    )


def demo_config(data_dir: Path, *, board: bool = False) -> Config:
    """A hub with a living-room climate sensor and a kitchen smart plug, replayed from shipped data.

    With ``board``, also the workbench board of ``demo_board``, read through the real serial source.
    """
    config = config_from_mapping(
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
    if board:
        workbench = SerialSourceConfig(
            name="workbench", port=str(data_dir / DEMO_BOARD_LINK), board_id="workbench-1"
        )
        config = msgspec.structs.replace(config, sources=[*config.sources, workbench])
    return config
