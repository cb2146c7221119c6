"""Features set up against a fake hub: real files and a real recorder, no daemon around them.

Each test does what the daemon does for one registry row: ``setup(hub)``, keep what it returns, run the
recorder and the services the feature registered, feed readings through a sink, close the hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agent.config import config_from_mapping
from agent.config.features import FEATURES
from agent.errors import RestartNeededError
from agent.inference.pipeline import Inference, WindowResult, inference_of
from agent.readings import Reading, StreamInfo
from agent.rules.dispatch import RuleDispatcher
from agent.sync.service import SyncService
from tests.conftest import eventually
from tests.hub.fake_hub import FakeHub
from tests.rules.conftest import FakeBoard


def make_hub(tmp_path: Path, **sections: Any) -> FakeHub:
    mapping = {"hub": {"id": "fake", "data_dir": str(tmp_path / "data")}, **sections}
    (tmp_path / "data").mkdir()
    return FakeHub(config_from_mapping(mapping, source="test"))


def set_up(hub: FakeHub, name: str) -> object:
    """Set the registry row ``name`` up on ``hub`` and keep its object, as the daemon does."""
    row = next(row for row in FEATURES if row.name == name)
    assert row.enabled(hub.config)
    feature = row.setup()(hub)
    assert feature is not None
    hub.features[name] = feature
    return feature


@contextlib.asynccontextmanager
async def running(hub: FakeHub) -> AsyncIterator[None]:
    """Run the recorder and every registered service until the block ends; then close the hub."""
    tasks = [asyncio.create_task(hub.recorder.run(), name="recorder")]
    tasks += [asyncio.create_task(service(), name=name) for name, service in hub.services.items()]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await hub.recorder.close()
        hub.close()


async def test_rules_command_a_board_the_hub_runs_and_refuse_to_swap_it(tmp_path: Path) -> None:
    hub = make_hub(
        tmp_path,
        sources=[{"kind": "serial", "name": "desk", "port": "/dev/null"}],
        rules=[
            {
                "name": "hot",
                "when": {"stream": "desk.temperature", "above": 25},
                "actions": [{"kind": "board", "board": "desk", "command": "fan", "arg": 2}],
            }
        ],
    )
    board = FakeBoard("desk")
    hub.running.append(board)
    dispatcher = set_up(hub, "rules")
    assert isinstance(dispatcher, RuleDispatcher)
    assert set(hub.services) == {"rules"}
    with pytest.raises(RestartNeededError, match="changing a board needs a restart"):
        hub.source_change_checks[0]([board], [])
    sink = hub.recorder.sink("desk", "serial", "block")
    sink.declare(StreamInfo.of("desk", "temperature", "°C"))
    async with running(hub):
        sink.put_nowait(Reading("desk.temperature", time.time(), 21.0))
        sink.put_nowait(Reading("desk.temperature", time.time(), 26.5))
        await eventually(lambda: board.received, "the board command")
        assert board.received == [("fan", 2)]
        await eventually(lambda: hub.recorder.committed == 2, "both readings to be committed")
    assert dispatcher.stats()["done"] == 1


async def test_inference_classifies_the_recorders_feed_and_reports_its_health(tmp_path: Path) -> None:
    hub = make_hub(
        tmp_path,
        sources=[{"kind": "simulated", "name": "plug", "file": "builtin:smart_plug_test.csv"}],
        models=[{"name": "appliance", "model": "builtin:appliance", "inputs": {"power": "plug.power"}}],
    )
    inference = set_up(hub, "inference")
    assert isinstance(inference, Inference)
    assert inference_of(hub) is inference
    assert set(hub.services) == {"inference"}
    runner = inference.runners["appliance"]
    results: list[WindowResult] = []
    runner.on_result.append(results.append)
    window, rate = runner.model.card.window, runner.model.card.rate_hz
    sink = hub.recorder.sink("plug", "simulated", "block", maxsize=4 * window)
    sink.declare(StreamInfo.of("plug", "power", "W"))
    start = time.time() - 3 * window / rate
    async with running(hub):
        for i in range(3 * window):
            sink.put_nowait(Reading("plug.power", start + i / rate, 60 + 40 * math.sin(i / 9)))
        await eventually(lambda: len(results) >= 2, "two windows classified")
        assert await hub.health_checks["models load"]() is None
    assert runner.stats["errors"] == 0
    assert {r.prediction.label for r in results} <= set(runner.model.card.labels)


async def test_sync_keeps_its_readings_connection_until_the_hub_closes(tmp_path: Path) -> None:
    hub = make_hub(tmp_path, upstream={"host": "127.0.0.1", "port": 1, "tls": False})
    service = set_up(hub, "sync")
    assert isinstance(service, SyncService)
    assert set(hub.services) == {"sync:summariser", "sync:publisher"}
    assert set(hub.health_checks) == {"upstream connects"}
    async with running(hub):
        assert await hub.health_checks["upstream connects"]() is not None  # nothing listens on port 1
    # Both services ended when the hub stopped; the connection went with the hub's close hooks.
    assert hub.on_close == []
    with pytest.raises(sqlite3.ProgrammingError):
        service.summariser.readings.execute("SELECT 1")
