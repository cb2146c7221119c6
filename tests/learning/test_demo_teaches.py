"""The demo teaches its hub an appliance the shipped model never saw, and the hub then recognises it live."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
import numpy as np

from agent.config import Config
from agent.daemon import Agent
from agent.demo import (
    UNKNOWN_CLASS,
    UNKNOWN_MODEL,
    UNKNOWN_PLUG,
    demo_config,
    teach_unknown_appliance,
)
from agent.inference.pipeline import WindowResult, inference_of
from agent.inference.runtime import Model
from agent.learning.examples import of
from agent.sources.simulated import load_table
from agent.store.ledger import open_ledger
from tests.conftest import eventually

# Ten times the demo's replay: half a second a window.
FAST = 2920.0


def garage_only(config: Config) -> Config:
    """The demo hub with only the heat pump's plug and its model entry, replayed faster."""
    source = next(s for s in config.sources if s.name == UNKNOWN_PLUG)
    model = next(m for m in config.models if m.name == UNKNOWN_MODEL)
    return msgspec.structs.replace(
        config,
        sources=[msgspec.structs.replace(source, rate=FAST)],
        models=[msgspec.structs.replace(model, input_rate=FAST)],
        prediction=None,
        rules=[],
    )


async def test_the_demo_teaches_the_heat_pump_and_the_hub_then_recognises_it_live(tmp_path: Path) -> None:
    config = demo_config(tmp_path / "data")
    taught = await teach_unknown_appliance(config)
    assert taught is not None
    adaptation = taught["adaptation"]
    assert adaptation["adapted"], adaptation
    assert adaptation["card"]["new_classes"] == [UNKNOWN_CLASS]
    assert adaptation["running"] == 1

    # What the hub was taught with is the file's last windows; the live replay starts at its first.
    ledger = open_ledger(tmp_path / "data")
    (kept,) = of(ledger, [taught["label"]["id"]]).values()
    ledger.close()
    rows = load_table(UNKNOWN_PLUG, "builtin:heat_pump_plug.csv").rows
    first_live = np.array([row[0] for row in rows[: kept.data.shape[1]]])
    assert not any(np.allclose(window[:, 0], first_live) for window in kept.data)
    shipped = Model.load("builtin:appliance")
    assert UNKNOWN_CLASS not in shipped.card.labels

    agent = Agent(garage_only(config))
    run = asyncio.create_task(agent.run())
    try:
        await agent.started.wait()
        inference = inference_of(agent)
        assert inference is not None
        runner = inference.runners[UNKNOWN_MODEL]
        assert runner.version == 1
        results: list[WindowResult] = []
        runner.on_result.append(results.append)
        await eventually(lambda: len(results) >= 4, "four live windows of the heat pump classified")
    finally:
        agent.stop()
        await run
    assert [r.prediction.label for r in results[:4]] == [UNKNOWN_CLASS] * 4


async def test_a_demo_run_again_on_its_folder_keeps_what_it_learnt(tmp_path: Path) -> None:
    config = demo_config(tmp_path / "data")
    assert await teach_unknown_appliance(config) is not None
    assert await teach_unknown_appliance(config) is None
    ledger = open_ledger(tmp_path / "data")
    assert ledger.execute("SELECT count(*) FROM labels").fetchone() == (1,)
    ledger.close()
