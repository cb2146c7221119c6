"""The layers' own health checks on a push (models load, upstream connects), and a fleet through upstream."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fleet_support import (
    CLIMATE,
    PLUG,
    closed_port,
    document,
    model,
    publish,
    push_to_hub,
    running,
    upstream,
    watching,
    write_hub,
)

GOOD = f"{PLUG}\n{CLIMATE}"
MODEL = model()


async def test_a_push_while_the_upstream_broker_is_unreachable_is_rolled_back_namingupstream(
    tmp_path: Path, broker: int, fleet_key: Ed25519PrivateKey
) -> None:
    away = closed_port(tmp_path / "away")
    path = write_hub(tmp_path, "hub-u", key=fleet_key, port=broker)
    path.write_text(path.read_text() + upstream(away))
    original = path.read_text()
    async with watching(broker) as watcher, running([path]) as (hub,):
        assert "upstream connects" in hub.agent.health_checks
        pushed = GOOD + upstream(away)
        await push_to_hub(broker, fleet_key, "hub-u", pushed, version=1)
        await watcher.wait_for(["hub-u"], "rolled_back", 1)
        reason = watcher.reports["hub-u"].reason
        assert reason.startswith("upstream connects: ")
        assert f"127.0.0.1:{away}" in reason
        assert hub.agent.source_runner("climate") is None
    assert path.read_text() == original


async def test_a_fleet_without_its_own_broker_comes_through_upstream_and_its_check_passes(
    tmp_path: Path, broker: int, fleet_key: Ed25519PrivateKey
) -> None:
    path = write_hub(tmp_path, "hub-s", key=fleet_key, port=broker)
    text = path.read_text().replace(f'broker = {{ host = "127.0.0.1", port = {broker}, tls = false }}\n', "")
    assert "broker" not in text
    path.write_text(text + upstream(broker))
    async with watching(broker) as watcher, running([path]) as (hub,):
        await publish(
            broker, "hub:hub-s", document(fleet_key, GOOD + upstream(broker), version=1, target="hub:hub-s")
        )
        await watcher.wait_for(["hub-s"], "applied", 1)
        assert hub.agent.source_runner("climate") is not None


async def test_a_push_with_a_model_mapping_that_loads_is_applied(
    tmp_path: Path, broker: int, fleet_key: Ed25519PrivateKey
) -> None:
    path = write_hub(tmp_path, "hub-i", key=fleet_key, port=broker)
    path.write_text(path.read_text() + MODEL)
    async with watching(broker) as watcher, running([path]) as (hub,):
        assert "models load" in hub.agent.health_checks
        await push_to_hub(broker, fleet_key, "hub-i", GOOD + MODEL, version=1)
        await watcher.wait_for(["hub-i"], "applied", 1)
        assert watcher.reports["hub-i"].reason == ""
        assert hub.agent.source_runner("climate") is not None
