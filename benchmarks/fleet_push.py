"""Seconds from a group push until every hub has reported ``applied``, with real hubs and a real Mosquitto.

Each hub is a real Agent (its own data dir, ledger, simulated source, MQTT connection) in this process,
run by a ``HubRunner`` as ``hearth run`` runs it. Baseline, measured in the same run: the same push to a
fleet of one hub. Both include the confirmation window (200 ms here); the ratio shows how much a fleet of
N costs over one hub. Also printed: a push that needs a restart (a model added) to the same number of
hubs, and for both kinds the longest pause between two readings of one hub next to its usual rhythm.
Run: python benchmarks/fleet_push.py [--quick] [--hubs N]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import aiomqtt
import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.daemon import Agent
from agent.daemon.lifecycle import HubRunner
from agent.fleet.document import Envelope, encode, key_id, public_key_text, sign
from agent.fleet.report import Status
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


MODEL = '\n[[models]]\nname = "appliance"\nmodel = "builtin:appliance"\ninputs = { power = "plug.power" }\n'


class Push(NamedTuple):
    seconds: float  # from the push until every hub reported 'applied'
    longest_gap: float  # the longest pause between two readings of one hub, push to 'applied' + 0.5 s
    usual_gap: float  # the same measure over the 2 s before the push (the sources' own rhythm)


async def push_and_wait(
    folder: Path, hubs: int, group: str, key: Ed25519PrivateKey, *, port: int, config: str
) -> Push:
    """Run ``hubs`` hubs as ``hearth run`` does, push ``config`` to their group, time it until all applied."""
    paths = [write_hub(folder, f"{group}-{n:03d}", group, key, port) for n in range(hubs)]
    seen: dict[str, list[float]] = {p.parent.name: [] for p in paths}

    def recording(hub: str) -> Callable[[Agent], None]:
        def attach(agent: Agent) -> None:
            agent.recorder.listeners.append(lambda batch: seen[hub].append(time.monotonic()))

        return attach

    runners = [HubRunner(p, on_agent=recording(p.parent.name)) for p in paths]
    tasks = [asyncio.create_task(r.run()) for r in runners]
    applied: set[str] = set()
    try:
        async with aiomqtt.Client("127.0.0.1", port) as client:
            await client.subscribe("hearth/v1/+/fleet", qos=1)
            reported: set[str] = set()
            async with asyncio.timeout(60):
                async for message in client.messages:
                    assert isinstance(message.payload, bytes)
                    reported.add(msgspec.json.decode(message.payload, type=Status).hub)
                    if reported >= seen.keys():
                        break
            await asyncio.sleep(2)
            now = int(time.time())
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
                        break
            took = time.monotonic() - started
            await asyncio.sleep(0.5)
            done = time.monotonic()
    finally:
        for runner in runners:
            runner.stop()
        await asyncio.gather(*tasks)
    if len(applied) < hubs:
        raise RuntimeError("not every hub applied the push")
    return Push(
        took,
        max(_longest_gap(times, started, done) for times in seen.values()),
        max(_longest_gap(times, started - 2, started) for times in seen.values()),
    )


def _longest_gap(times: list[float], start: float, end: float) -> float:
    inside = [start, *(t for t in times if start <= t <= end), end]
    return max(b - a for a, b in itertools.pairwise(inside))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a CI-sized run (20 hubs)")
    parser.add_argument("--hubs", type=int, default=None)
    args = parser.parse_args()
    hubs = args.hubs or (20 if args.quick else 50)
    key = Ed25519PrivateKey.generate()
    live = SOURCE.format(name="plug") + SOURCE.format(name="second")
    restart = SOURCE.format(name="plug") + MODEL
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with Mosquitto(folder) as broker:
            one = await push_and_wait(folder, 1, "single", key, port=broker.port, config=live)
            fleet = await push_and_wait(folder, hubs, "fleet", key, port=broker.port, config=live)
            restarted = await push_and_wait(folder, hubs, "restart", key, port=broker.port, config=restart)
    print(
        f"live push (a source added): 1 hub {one.seconds:.3f} s; {hubs} hubs {fleet.seconds:.3f} s "
        f"from push to every 'applied' (200 ms window); longest pause between readings of one hub "
        f"{fleet.longest_gap * 1000:.0f} ms (usual {fleet.usual_gap * 1000:.0f} ms)"
    )
    print(
        f"restart push (a model added): {hubs} hubs {restarted.seconds:.3f} s to every 'applied'; "
        f"longest pause between readings of one hub {restarted.longest_gap * 1000:.0f} ms "
        f"(usual {restarted.usual_gap * 1000:.0f} ms)"
    )
    report(
        f"fleet_push_{hubs}_hubs",
        fleet.seconds,
        "s",
        baseline=one.seconds,
        ratio=fleet.seconds / one.seconds,
        target="<= 5 x one hub",
    )


if __name__ == "__main__":
    asyncio.run(main())
