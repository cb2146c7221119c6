"""Seconds from a group push until every hub has reported ``applied``, with real hubs and a real Mosquitto.

Each hub is a real Agent (its own data dir, ledger, simulated source, MQTT connection) in this process.
Baseline, measured in the same run: the same push to a fleet of one hub. Both include the confirmation
window (200 ms here); the ratio shows how much a fleet of N costs over one hub.
Run: python benchmarks/fleet_push.py [--quick] [--hubs N]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import aiomqtt
import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.config import load_config
from agent.daemon import Agent
from agent.fleet.document import Envelope, encode, key_id, public_key_text, sign
from agent.fleet.service import Status
from tests.testbed.mosquitto import Mosquitto

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import report

SOURCE = """
[[sources]]
kind = "simulated"
name = "{name}"
file = "builtin:kettle_plug.csv"
rate = 5
"""


def write_hub(folder: Path, hub_id: str, group: str, key: Ed25519PrivateKey, port: int) -> Path:
    (folder / hub_id).mkdir(parents=True)
    path = folder / hub_id / "hearth.toml"
    path.write_text(
        f'[hub]\nid = "{hub_id}"\ndata_dir = "{folder / hub_id / "data"}"\ngroups = ["{group}"]\n'
        f'[fleet]\npublic_key = "{public_key_text(key.public_key())}"\nconfirm_window = "200ms"\n'
        f'broker = {{ host = "127.0.0.1", port = {port}, tls = false }}\n' + SOURCE.format(name="plug")
    )
    return path


async def push_and_wait(folder: Path, hubs: int, group: str, key: Ed25519PrivateKey, port: int) -> float:
    """Run ``hubs`` agents, push one config to their group, return the seconds until all applied."""
    paths = [write_hub(folder, f"{group}-{n:03d}", group, key, port) for n in range(hubs)]
    agents = [Agent(load_config(p), config_path=p) for p in paths]
    tasks = [asyncio.create_task(a.run()) for a in agents]
    applied: set[str] = set()
    try:
        async with aiomqtt.Client("127.0.0.1", port) as client:
            await client.subscribe("hearth/v1/+/fleet", qos=1)
            seen: set[str] = set()
            async with asyncio.timeout(60):
                async for message in client.messages:
                    assert isinstance(message.payload, bytes)
                    seen.add(msgspec.json.decode(message.payload, type=Status).hub)
                    if len(seen & {a.config.hub.id for a in agents}) == hubs:
                        break
            now = int(time.time())
            config = SOURCE.format(name="plug") + SOURCE.format(name="second")
            envelope = Envelope(
                version=1, target=f"group:{group}", issued_at=now, expires_at=now + 3600,
                key_id=key_id(key.public_key()), config_format="toml", config=config,
            )  # fmt: skip
            started = time.monotonic()
            await client.publish(
                f"hearth/v1/fleet/group/{group}", encode(sign(envelope, key)), retain=True, qos=1
            )
            async with asyncio.timeout(120):
                async for message in client.messages:
                    assert isinstance(message.payload, bytes)
                    status = msgspec.json.decode(message.payload, type=Status)
                    if status.state == "applied" and status.version == 1:
                        applied.add(status.hub)
                    if len(applied) == hubs:
                        return time.monotonic() - started
    finally:
        for agent in agents:
            agent.stop()
        await asyncio.gather(*tasks)
    raise RuntimeError("not every hub applied the push")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a CI-sized run (20 hubs)")
    parser.add_argument("--hubs", type=int, default=None)
    args = parser.parse_args()
    hubs = args.hubs or (20 if args.quick else 50)
    key = Ed25519PrivateKey.generate()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with Mosquitto(folder) as broker:
            one = await push_and_wait(folder, 1, "single", key, broker.port)
            fleet = await push_and_wait(folder, hubs, "fleet", key, broker.port)
    print(f"1 hub: {one:.3f} s; {hubs} hubs: {fleet:.3f} s from push to every 'applied' (200 ms window)")
    report(f"fleet_push_{hubs}_hubs", fleet, "s", baseline=one, ratio=fleet / one, target="<= 5 x one hub")


if __name__ == "__main__":
    asyncio.run(main())
