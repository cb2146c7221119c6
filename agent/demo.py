"""The demo hub: a config of simulated devices that runs with nothing else installed."""

from __future__ import annotations

import math
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from agent.config import Config, config_from_mapping
from agent.config.schema import SerialSourceConfig

if TYPE_CHECKING:
    from agent.store.readings import ReadingsStore
    from firmware_bridge.emulator import BoardEmulator

# The emulated workbench board's pty is reached through this link in the data dir.
DEMO_BOARD_LINK = "workbench-board"

SMART_PLUG_REPLAY_RATE = 292.0  # rows/s: one 1460-sample ACSF1 series every 5 s

# The appliance the shipped model never saw, on a plug of its own with a model entry of its own: the demo
# labels an earlier stretch of it before the hub starts, so the hub learns it and then recognises it live.
UNKNOWN_PLUG = "garage_plug"
UNKNOWN_MODEL = "garage"
UNKNOWN_CLASS = "heat_pump"
UNKNOWN_FILE = "builtin:heat_pump_plug.csv"
# The file holds 12 of the model's windows (4 h each, at 0.1 Hz); the hub is taught with the last six,
# and the live replay starts at the first, so what it recognises is not what it was taught with.
UNKNOWN_WINDOW = 1460
UNKNOWN_TAUGHT = 6

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
                # A heat pump, which the shipped appliance model never saw: the demo teaches it first.
                {
                    "kind": "simulated",
                    "name": UNKNOWN_PLUG,
                    "file": UNKNOWN_FILE,
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
                {
                    "name": UNKNOWN_MODEL,
                    "model": "builtin:appliance",
                    "inputs": {"power": f"{UNKNOWN_PLUG}.power"},
                    "debounce": 1,
                    "input_rate": SMART_PLUG_REPLAY_RATE,
                },
            ],
            # Forecasts of the living room from the week of history ``seed_history`` leaves on file.
            "prediction": {
                "streams": ["living_room.temperature"],
                "horizons": ["1h", "3h", "6h"],
                "anomaly_min_duration": "2h",
            },
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


def seed_history(store: ReadingsStore, *, days: int = 7, now: float | None = None) -> None:
    """A week of the living room's temperature before the demo starts (every 10 minutes): a daily cycle
    between about 19 and 23 °C, and a radiator left on full for the last four hours, so the demo's first
    minute already has forecasts and an anomaly to show. Nothing is written if the room has history."""
    from agent.readings import Reading, StreamInfo

    end = math.floor((time.time() if now is None else now) / 3600) * 3600
    if store.count_readings("living_room.temperature"):
        return
    readings = []
    for i in range(days * 24 * 6):
        ts = end - days * 86400 + i * 600
        hour = (ts % 86400) / 3600
        value = 21 + 2 * math.sin(2 * math.pi * (hour - 9) / 24) + 0.1 * math.sin(i * 7.3)
        if ts >= end - 4 * 3600:
            value += 5.0  # the radiator
        readings.append(Reading("living_room.temperature", ts, round(value, 2)))
    store.write_batch(readings, [("simulated", StreamInfo.of("living_room", "temperature", "°C"))])


def adopt_demo_ble(conn: sqlite3.Connection) -> list[str]:
    """Adopt the simulated BLE sensors (as an owner would with ``hearth ble adopt``); return names."""
    from agent.sources.ble.adoption import AdoptionStore
    from agent.sources.ble.simulated import DEMO_DEVICES

    store = AdoptionStore(conn)
    return [store.adopt(d.address, d.suggested_name).name for d in DEMO_DEVICES]


def seed_unknown_appliance(store: ReadingsStore, *, now: float) -> tuple[float, float] | None:
    """Write the heat pump's last ``UNKNOWN_TAUGHT`` windows as the plug's history just before ``now``
    (at the replay's rate); return their span, or None if the plug already has history."""
    from agent.readings import Reading, StreamInfo
    from agent.sources.simulated import load_table

    stream = f"{UNKNOWN_PLUG}.power"
    if store.count_readings(stream):
        return None
    rows = load_table(UNKNOWN_PLUG, UNKNOWN_FILE).rows[-UNKNOWN_TAUGHT * UNKNOWN_WINDOW :]
    step = 1.0 / SMART_PLUG_REPLAY_RATE
    start = now - 10.0 - len(rows) * step
    readings = [Reading(stream, start + i * step, row[0]) for i, row in enumerate(rows)]
    store.write_batch(readings, [("simulated", StreamInfo.of(UNKNOWN_PLUG, "power", "W"))])
    return start, start + len(rows) * step


async def teach_unknown_appliance(config: Config, *, now: float | None = None) -> dict[str, Any] | None:
    """As the owner would with ``hearth label add``, before the hub starts: label the heat pump's history
    on the plug's model entry, so the hub adapts it. The label action's answer; None if the data dir
    already held the plug's history (a demo run again on the same folder keeps what it learnt)."""
    from agent.control.actions import perform
    from agent.control.client import LocalHub

    with LocalHub(config) as hub:
        span = await hub.readings(seed_unknown_appliance, now=time.time() if now is None else now)
        if span is None:
            return None
        params = {"model": UNKNOWN_MODEL, "start_ts": span[0], "end_ts": span[1], "cls": UNKNOWN_CLASS}
        result: dict[str, Any] = await perform(hub, "label.add", params)
        return result
