"""A fleet of real hubs on one real broker: a group push reaches all; a bad one is rolled back on all."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fleet_support import (
    CLIMATE,
    PLUG,
    Watcher,
    document,
    model,
    publish,
    restarting,
    running,
    watching,
    write_hub,
)

from agent.config import load_config
from agent.inference.pipeline import inference_of
from tests.testbed.wait import eventually

HUBS = 50

GOOD = f"""
[store]
flush_interval = "100ms"
{PLUG}
{CLIMATE}
"""

# Valid config, but the board is not there: it can only fail once applied, in the health check.
MISSING_BOARD = f"""
{GOOD}
[[sources]]
kind = "serial"
name = "bench"
port = "/dev/hearth-no-such-board"
handshake_timeout = "200ms"
"""

KITCHENS = "group:kitchens"


def _kitchens(root: Path, broker: int, key: Ed25519PrivateKey) -> tuple[list[str], list[Path]]:
    """Provision the fleet: every hub in the kitchens group."""
    ids = [f"hub-{n:02d}" for n in range(HUBS)]
    return ids, [write_hub(root, i, key=key, port=broker, groups=["kitchens"]) for i in ids]


async def _push_to_all(watcher: Watcher, ids: list[str], broker: int, payload: bytes) -> float:
    """Push ``payload`` (version 1) to the kitchens; seconds until every hub reported it applied."""
    started = time.monotonic()
    await publish(broker, KITCHENS, payload)
    await watcher.wait_for(ids, "applied", 1, within=90)
    return time.monotonic() - started


async def test_group_push_reaches_every_hub_and_a_bad_one_is_rolled_back_everywhere(
    tmp_path: Path, broker: int, fleet_key: Ed25519PrivateKey
) -> None:
    ids, paths = _kitchens(tmp_path, broker, fleet_key)
    async with watching(broker) as watcher, running(paths) as hubs:
        await watcher.wait_for(ids, "provisioned", None)

        took = await _push_to_all(watcher, ids, broker, document(fleet_key, GOOD, version=1, target=KITCHENS))
        print(f"\n{HUBS} hubs reported 'applied' {took:.2f} s after the push")

        for hub, path in zip(hubs, paths, strict=True):
            assert hub.agent.source_runner("climate") is not None
            assert [s.name for s in load_config(path).sources] == ["plug", "climate"]
            assert hub.agent.config.hub.groups == ["kitchens"]

        before = {path: path.read_text() for path in paths}
        plug_runners = [hub.agent.source_runner("plug") for hub in hubs]
        pushed = time.monotonic()
        await publish(broker, KITCHENS, document(fleet_key, MISSING_BOARD, version=2, target=KITCHENS))
        await watcher.wait_for(ids, "rolled_back", 2, within=60)
        reported = time.monotonic()
        for hub in hubs:
            report = watcher.reports[hub.agent.config.hub.id]
            assert "bench" in report.reason
            assert "not connected" in report.reason
            assert report.running_version == 1
            assert hub.agent.source_runner("bench") is None
            # Recording never paused: readings arrived during the confirmation window and after it.
            assert hub.readings_since(pushed, "plug") > 0
        for path in paths:
            assert path.read_text() == before[path]
        # The unchanged source was never restarted by the push or the rollback.
        assert [hub.agent.source_runner("plug") for hub in hubs] == plug_runners
        await eventually(
            lambda: all(h.readings_since(reported, "plug") > 0 for h in hubs), "readings after the rollback"
        )


async def test_a_group_push_that_needs_a_restart_restarts_every_hub_and_is_applied(
    tmp_path: Path, broker: int, fleet_key: Ed25519PrivateKey
) -> None:
    ids, paths = _kitchens(tmp_path, broker, fleet_key)
    async with watching(broker) as watcher, contextlib.AsyncExitStack() as stack:
        hubs = [await stack.enter_async_context(restarting(path)) for path in paths]
        await watcher.wait_for(ids, "provisioned", None)

        # A model the hubs did not run: each hub restarts to load it.
        push = document(fleet_key, PLUG + model(), version=1, target=KITCHENS)
        took = await _push_to_all(watcher, ids, broker, push)
        print(f"\n{HUBS} hubs restarted and reported 'applied' {took:.2f} s after the push")
        for hub in hubs:
            assert hub.runner.starts == 2
            assert inference_of(hub.agent) is not None
        applied = time.monotonic()
        await eventually(
            lambda: all(h.readings_since(applied, "plug") > 0 for h in hubs), "readings after the restarts"
        )
