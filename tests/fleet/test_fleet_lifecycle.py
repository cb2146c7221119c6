"""A hub's life around pushes: offline during a push, restarted after one, a config that fails to start."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fleet_support import (
    CLIMATE,
    PLUG,
    Mosquitto,
    document,
    publish,
    push_to_hub,
    running,
    watching,
    write_hub,
)

from agent.config import load_config
from agent.fleet import files
from agent.fleet.document import decode
from agent.fleet.verify import pushed_config
from tests.conftest import REPO
from tests.testbed.wait import eventually

GOOD = f"{PLUG}\n{CLIMATE}"


async def test_a_hub_offline_during_the_push_applies_it_when_it_comes_back(
    tmp_path: Path, broker: int, fleet_key: Ed25519PrivateKey
) -> None:
    path = write_hub(tmp_path, "cabin", key=fleet_key, port=broker, groups=["holiday"])
    await publish(broker, "group:holiday", document(fleet_key, GOOD, version=3, target="group:holiday"))
    async with watching(broker) as watcher, running([path]) as (hub,):
        await watcher.wait_for(["cabin"], "applied", 3)
        assert hub.agent.source_runner("climate") is not None
        await eventually(lambda: hub.readings_since(0, "climate") > 0, "readings from the pushed source")
    assert [s.name for s in load_config(path).sources] == ["plug", "climate"]
    assert "# provisioned by hand" in path.with_name("hearth.toml.prev").read_text()


async def test_after_a_restart_an_older_version_is_still_refused(
    tmp_path: Path, broker: int, fleet_key: Ed25519PrivateKey
) -> None:
    path = write_hub(tmp_path, "hub-r", key=fleet_key, port=broker, groups=["all"])
    async with watching(broker) as watcher:
        async with running([path]):
            await push_to_hub(broker, fleet_key, "hub-r", GOOD, version=5)
            await watcher.wait_for(["hub-r"], "applied", 5)
        applied = path.read_text()

        # Back up with the file v5 wrote; v5 is still retained on its topic and is not applied twice.
        async with running([path]) as (hub,):
            assert hub.agent.source_runner("climate") is not None
            await publish(broker, "group:all", document(fleet_key, PLUG, version=4, target="group:all"))
            await watcher.wait_for(["hub-r"], "rejected", 4)
            assert "not above the last accepted version 5" in watcher.reports["hub-r"].reason
            assert watcher.reports["hub-r"].running_version == 5
            assert path.read_text() == applied
            assert hub.agent.source_runner("climate") is not None
    ledger = sqlite3.connect(tmp_path / "hub-r" / "data" / "ledger.db")
    assert ledger.execute("SELECT version, status FROM config_history").fetchall() == [(5, "applied")]
    outcomes = ledger.execute("SELECT version, outcome FROM fleet_audit ORDER BY id").fetchall()
    ledger.close()
    assert outcomes == [(5, "applied"), (4, "rejected")]


async def test_a_config_whose_source_cannot_start_is_rolled_back_while_recording_goes_on(
    tmp_path: Path, broker: int, fleet_key: Ed25519PrivateKey
) -> None:
    path = write_hub(tmp_path, "hub-m", key=fleet_key, port=broker)
    missing = PLUG + f'\n[[sources]]\nkind = "simulated"\nname = "gone"\nfile = "{tmp_path / "nope.csv"}"\n'
    original = path.read_text()
    async with watching(broker) as watcher, running([path]) as (hub,):
        plug = hub.agent.source_runner("plug")
        pushed = time.monotonic()
        await push_to_hub(broker, fleet_key, "hub-m", missing, version=2)
        await watcher.wait_for(["hub-m"], "rolled_back", 2)
        reported = time.monotonic()
        assert "cannot read simulation data" in watcher.reports["hub-m"].reason
        assert path.read_text() == original
        assert hub.agent.source_runner("gone") is None
        assert hub.agent.source_runner("plug") is plug
        assert hub.readings_since(pushed, "plug") > 0
        await eventually(lambda: hub.readings_since(reported, "plug") > 0, "readings after the rollback")


async def test_an_apply_cut_short_by_a_power_cut_is_confirmed_on_the_next_start(
    tmp_path: Path, broker: int, fleet_key: Ed25519PrivateKey
) -> None:
    path = write_hub(tmp_path, "hub-p", key=fleet_key, port=broker)
    payload = document(fleet_key, GOOD, version=8, target="hub:hub-p")
    # What the hub had done when the power went: v8 recorded as applying, its file in place.
    config = pushed_config(decode(payload).envelope, load_config(path), base_dir=path.parent)
    text = files.render(config, version=8)
    from agent.fleet import history
    from agent.fleet.verify import digest
    from agent.store.ledger import open_ledger

    ledger = open_ledger(path.parent / "data")
    history.begin(ledger, 8, digest(payload), text)
    ledger.close()
    files.install(path, text)

    async with watching(broker) as watcher, running([path]) as (hub,):
        await watcher.wait_for(["hub-p"], "applied", 8)
        assert hub.agent.source_runner("climate") is not None
        assert watcher.reports["hub-p"].running_version == 8


async def test_a_push_that_moves_the_hub_to_another_group_is_followed(
    tmp_path: Path, broker: int, fleet_key: Ed25519PrivateKey
) -> None:
    path = write_hub(tmp_path, "hub-g", key=fleet_key, port=broker, groups=["old"])
    move = '[hub]\ngroups = ["new"]\n' + GOOD
    async with watching(broker) as watcher, running([path]) as (hub,):
        await publish(broker, "group:old", document(fleet_key, move, version=1, target="group:old"))
        await watcher.wait_for(["hub-g"], "applied", 1)
        assert hub.agent.config.hub.groups == ["new"]
        await publish(broker, "group:new", document(fleet_key, PLUG, version=2, target="group:new"))
        await watcher.wait_for(["hub-g"], "applied", 2)
        assert hub.agent.source_runner("climate") is None
    assert load_config(path).hub.groups == ["new"]


async def test_a_hub_reconnects_after_the_broker_restarts_and_applies_what_was_pushed(
    tmp_path: Path, mosquitto: Mosquitto, fleet_key: Ed25519PrivateKey
) -> None:
    path = write_hub(tmp_path, "hub-b", key=fleet_key, port=mosquitto.port)
    async with running([path]) as (hub,):
        async with watching(mosquitto.port) as watcher:
            await watcher.wait_for(["hub-b"], "provisioned", None)
        mosquitto.stop()
        mosquitto.start()  # without persistence: nothing retained survives
        async with watching(mosquitto.port) as watcher:
            await publish(
                mosquitto.port, "hub:hub-b", document(fleet_key, GOOD, version=1, target="hub:hub-b")
            )
            await watcher.wait_for(["hub-b"], "applied", 1, within=30)
        assert hub.agent.source_runner("climate") is not None


async def test_a_registered_health_check_that_fails_rolls_the_config_back(
    tmp_path: Path, broker: int, fleet_key: Ed25519PrivateKey
) -> None:
    path = write_hub(tmp_path, "hub-h", key=fleet_key, port=broker)
    original = path.read_text()
    async with watching(broker) as watcher, running([path]) as (hub,):

        async def upstream() -> str | None:
            return "broker refused the connection" if hub.agent.source_runner("climate") else None

        hub.agent.health_checks["upstream"] = upstream
        await push_to_hub(broker, fleet_key, "hub-h", GOOD, version=1)
        await watcher.wait_for(["hub-h"], "rolled_back", 1)
        assert watcher.reports["hub-h"].reason == "upstream: broker refused the connection"
        assert hub.agent.source_runner("climate") is None
    assert path.read_text() == original


async def test_the_fleet_sees_a_hub_online_offline_when_it_stops_and_offline_when_it_dies(
    tmp_path: Path, broker: int, fleet_key: Ed25519PrivateKey
) -> None:
    path = write_hub(tmp_path, "hub-o", key=fleet_key, port=broker)
    async with watching(broker) as watcher:
        async with running([path]):
            await eventually(lambda: watcher.links.get("hub-o") == "online", "the hub to say it is online")
        await eventually(lambda: watcher.links.get("hub-o") == "offline", "a stopped hub to say offline")

        # A hub that dies without a word: the broker publishes its will.
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "agent", "run", "-c", str(path), cwd=REPO, stderr=asyncio.subprocess.DEVNULL
        )
        try:
            await eventually(lambda: watcher.links.get("hub-o") == "online", "the hub to come back", 60)
        finally:
            proc.kill()
            await proc.wait()
        await eventually(lambda: watcher.links.get("hub-o") == "offline", "the broker to publish the will")
