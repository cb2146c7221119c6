"""A hub imports the heavy libraries of a layer only when that layer is configured (RSS ≤ 80 MB)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = (
    "numpy", "ai_edge_litert", "aiomqtt", "firmware_bridge", "cbor2", "aiohttp", "habluetooth", "bleak",
    "cryptography",
)  # fmt: skip

PROGRAM = """
import json, sys
import agent.cli  # what `hearth run` imports: every command, the lifecycle, the fleet start-up check
import agent.daemon.lifecycle
from agent.config.loader import config_from_mapping
from agent.daemon.agent import Agent

mapping = json.loads(sys.argv[1])
agent = Agent(config_from_mapping(mapping, source="test"))
try:
    print(json.dumps({"loaded": [m for m in json.loads(sys.argv[2]) if m in sys.modules],
                      "services": sorted(agent.services)}))
finally:
    agent._close_files()
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


def test_a_market_starts_the_intent_service_and_only_then_loads_the_mqtt_client(tmp_path: Path) -> None:
    result = attached(tmp_path, market={"host": "127.0.0.1", "tls": False})
    assert result["loaded"] == ["aiomqtt"]
    assert "intents" in result["services"]


XIAOMI_PROGRAM = """
import json, sys
from agent.sources.ble.advert import Advert
from agent.sources.ble.decoders import DeviceDecoder, detect_format

uuid, payload = sys.argv[1], bytes.fromhex(sys.argv[2])
advert = Advert("58:2D:34:35:93:21", "Test", -60, {}, {uuid: payload}, [uuid])
fmt = detect_format(advert)
decoded, _, _ = DeviceDecoder(fmt).decode(advert)
print(json.dumps({"format": fmt.name, "quantities": sorted(d[0] for d in decoded),
                  "loaded": [m for m in ("aiohttp", "xiaomi_ble.cloud") if m in sys.modules]}))
"""


def test_a_xiaomi_sensor_is_decoded_without_the_library_s_cloud_client() -> None:
    # A real LYWSDCGQ advert (temperature and humidity): its parser must not bring aiohttp along.
    payload = b"P \xaa\x01\xda!\x9354-X\r\x10\x04\xfe\x00H\x02"
    done = subprocess.run(
        [sys.executable, "-c", XIAOMI_PROGRAM, "0000fe95-0000-1000-8000-00805f9b34fb", payload.hex()],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["format"] == "xiaomi"
    assert result["quantities"]
    assert result["loaded"] == []
