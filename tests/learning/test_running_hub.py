"""Labels given to a running hub go through its writers; the adapted version outlives the hub's restart."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from agent.config import config_from_mapping
from agent.control.actions import perform
from agent.daemon import Agent
from agent.daemon.owner import RunningHub

from .test_label_cli import INPUTS, record_cycling


def hub_config(data_dir: Path) -> dict[str, Any]:
    return {
        "hub": {"id": "h", "data_dir": str(data_dir)},
        "store": {"flush_interval": "20ms"},
        # The wrist replays the shipped test recordings meanwhile; the label is on a span before.
        "sources": [{"kind": "simulated", "name": "wrist", "file": "builtin:wrist_imu_test.csv", "rate": 10}],
        "models": [
            {
                "name": "activity",
                "model": "builtin:activity",
                "inputs": {name: f"wrist.{name}" for name in INPUTS},
            }
        ],
    }


async def test_a_running_hub_adapts_from_a_label_and_keeps_the_version_after_a_restart(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    # An hour ago: within the store's retention, which a starting hub applies.
    start = round(time.time()) - 3600.0
    record_cycling(data_dir, start, 50)
    agent = Agent(config_from_mapping(hub_config(data_dir)))
    run = asyncio.create_task(agent.run())
    await agent.started.wait()
    added = await perform(
        RunningHub(agent),
        "label.add",
        {"model": "activity", "start_ts": start, "end_ts": start + 50, "cls": "cycling"},
    )
    assert added["adaptation"]["adapted"], added
    assert added["adaptation"]["card"]["new_classes"] == ["cycling"]
    assert added["adaptation"]["running"] == 1
    agent.stop()
    await run

    agent = Agent(config_from_mapping(hub_config(data_dir)))
    run = asyncio.create_task(agent.run())
    await agent.started.wait()
    shown = await perform(RunningHub(agent), "model.versions", {"model": "activity"})
    assert shown["running"] == 1
    assert [v["kept"] for v in shown["versions"]] == [True]
    reset = await perform(RunningHub(agent), "model.reset", {"model": "activity"})
    assert reset == {"model": "activity", "was_running": 1, "running": 0}
    agent.stop()
    await run
