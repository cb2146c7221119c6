"""A hub imports the heavy libraries of a layer only when that layer is configured (RSS ≤ 80 MB)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ("numpy", "ai_edge_litert", "aiomqtt", "firmware_bridge", "cbor2", "aiohttp", "habluetooth", "bleak")

PROGRAM = """
import json, sys
from agent.config.loader import config_from_mapping
from agent.daemon.agent import Agent

mapping = json.loads(sys.argv[1])
agent = Agent(config_from_mapping(mapping, source="test"))
try:
    print(json.dumps({"loaded": [m for m in json.loads(sys.argv[2]) if m in sys.modules],
                      "services": sorted(agent.services)}))
finally:
    agent.store.close()
    agent.ledger.close()
"""


def attached(tmp_path: Path, **sections: object) -> dict[str, list[str]]:
    mapping = {
        "hub": {"id": "footprint", "data_dir": str(tmp_path)},
        "sources": [
            {"kind": "simulated", "name": "plug", "file": "builtin:smart_plug_test.csv"},
            {"kind": "ble", "name": "ble", "simulate": True},
        ],
        **sections,
    }
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, json.dumps(mapping), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, list[str]] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_hub_without_models_upstream_gatt_or_adoptions_leaves_their_stacks_unloaded(tmp_path: Path) -> None:
    assert attached(tmp_path)["loaded"] == []


def test_configured_models_still_load_the_runtime(tmp_path: Path) -> None:
    models = [{"name": "appliance", "model": "builtin:appliance", "inputs": {"power": "plug.power"}}]
    result = attached(tmp_path, models=models)
    assert {"numpy", "ai_edge_litert"} <= set(result["loaded"])
    assert "inference" in result["services"]
