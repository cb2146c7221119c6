"""Labels on a running hub go through its writers; the adapted version runs at once and after restarts."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result

from agent.cli import cli
from agent.config import config_from_mapping
from agent.control import wire
from agent.control.actions import perform
from agent.control.client import ask_running_hub
from agent.control.owner import RunningHub
from agent.daemon import Agent
from agent.inference.evaluate import load_test_split
from agent.inference.pipeline import inference_of
from agent.inference.windows import WindowAssembler
from agent.store.ledger import open_ledger
from agent.store.readings import open_readings
from tests.conftest import eventually

from .test_label_cli import INPUTS, record_cycling

STREAMS = [f"wrist.{name}" for name in INPUTS]


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
                "inputs": dict(zip(INPUTS, STREAMS, strict=True)),
            }
        ],
    }


def first_window(data_dir: Path, start: float) -> np.ndarray:
    """The first 10 s window recorded from ``start``, cut as the live pipeline cuts it."""
    store = open_readings(data_dir, read_only=True)
    try:
        readings = store.readings_between(STREAMS, start, start + 20)
    finally:
        store.close()
    (window, *_) = WindowAssembler(STREAMS, rate=10, window=100, hop=100).feed(readings)
    assert window.data is not None
    return window.data


@asynccontextmanager
async def running_mapping(config: dict[str, Any]) -> AsyncIterator[Agent]:
    """A hub running ``config`` (a mapping of its sections), once started; stopped however it ends."""
    agent = Agent(config_from_mapping(config))
    run = asyncio.create_task(agent.run())
    try:
        await agent.started.wait()
        yield agent
    finally:
        agent.stop()
        await run


@asynccontextmanager
async def running(data_dir: Path, **model: Any) -> AsyncIterator[Agent]:
    """A hub running ``hub_config`` (with ``model``'s settings for the model), stopped however it ends."""
    config = hub_config(data_dir)
    config["models"][0].update(model)
    async with running_mapping(config) as agent:
        yield agent


async def adapted_hub(data_dir: Path) -> float:
    """Record an hour-old cycling span, label it on a running hub; return the span's start."""
    # An hour ago: within the store's retention, which a starting hub applies.
    start = round(time.time()) - 3600.0
    record_cycling(data_dir, start, 50)
    async with running(data_dir) as agent:
        added = await perform(
            RunningHub(agent),
            "label.add",
            {"model": "activity", "start_ts": start, "end_ts": start + 50, "cls": "cycling"},
        )
    assert added["adaptation"]["adapted"], added
    assert added["adaptation"]["card"]["new_classes"] == ["cycling"]
    assert added["adaptation"]["running"] == 1
    return start


async def test_a_running_hub_adapts_from_a_label_and_runs_the_version_after_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    start = await adapted_hub(data_dir)

    async with running(data_dir) as agent:
        # The restarted hub classifies with the adapted version: a cycling window is cycling, and the
        # shipped test recordings keep their classes.
        inference = inference_of(agent)
        assert inference is not None
        runner = inference.runners["activity"]
        assert runner.version == 1
        assert runner.classify(first_window(data_dir, start)).label == "cycling"
        x, y = load_test_split(runner.model)
        assert [runner.classify(w).label for w in x[::3]] == [runner.model.card.labels[c] for c in y[::3]]
        shown = await perform(RunningHub(agent), "model.versions", {"model": "activity"})
        assert shown["running"] == 1
        assert [v["kept"] for v in shown["versions"]] == [True]
        reset = await perform(RunningHub(agent), "model.reset", {"model": "activity"})
        assert reset == {"model": "activity", "was_running": 1, "running": 0}


async def test_a_version_learnt_over_another_model_file_is_dropped_and_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "data"
    await adapted_hub(data_dir)
    # As if the model file had been updated since: the version's card names another file's sha256.
    ledger = open_ledger(data_dir)
    (card,) = ledger.execute("SELECT card FROM model_versions").fetchone()
    ledger.execute(
        "UPDATE model_versions SET card = ?", (json.dumps({**json.loads(card), "base_sha256": "0" * 64}),)
    )
    ledger.close()

    with caplog.at_level(logging.WARNING, logger="agent.learning.service"):
        async with running(data_dir) as agent:
            inference = inference_of(agent)
            assert inference is not None
            assert inference.runners["activity"].version == 0
    assert "adapted version 1 dropped: it was learnt over another model file" in caplog.text


async def test_forgetting_the_context_strand_forgets_the_labels_and_runs_as_shipped_at_once(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    start = await adapted_hub(data_dir)
    async with running(data_dir) as agent:
        inference = inference_of(agent)
        assert inference is not None
        runner = inference.runners["activity"]
        assert runner.classify(first_window(data_dir, start)).label == "cycling"
        await eventually(lambda: agent.store.stream_id("context.activity") is not None, "a context reading")
        forgot = await perform(RunningHub(agent), "forget", {"pattern": "context.activity"})
        assert forgot["labels"] == {"activity": 1}
        # Its labels' strand goes with it: it tells what the context strand really was.
        assert "labels.activity" in forgot["streams"]
        # The running hub drops the head the forgotten label taught: no window is cycling any more.
        assert runner.version == 0
        assert runner.classify(first_window(data_dir, start)).label != "cycling"
        assert await perform(RunningHub(agent), "label.list", {}) == []
        shown = await perform(RunningHub(agent), "model.versions", {"model": "activity"})
        assert shown == {"model": "activity", "running": 0, "versions": []}


async def over_the_socket(data_dir: Path, action: str, **params: Any) -> Any:
    """``action`` as ``hearth label ...`` or ``hearth model ...`` sends it to a running hub."""
    await eventually(lambda: wire.socket_path(data_dir).exists(), "the hub's control socket")
    line = await asyncio.to_thread(ask_running_hub, data_dir, wire.Request(action, params))
    assert line is not None, "no hub answered on the control socket"
    return wire.result_of(line)


async def test_a_running_hub_switches_to_the_adapted_version_without_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    start = round(time.time()) - 3600.0
    record_cycling(data_dir, start, 50)
    async with running(data_dir) as agent:
        inference = inference_of(agent)
        assert inference is not None
        runner = inference.runners["activity"]
        assert runner.version == 0
        window = first_window(data_dir, start)
        assert runner.classify(window).label != "cycling"

        added = await over_the_socket(
            data_dir, "label.add", model="activity", start_ts=start, end_ts=start + 50, cls="cycling"
        )
        assert added["adaptation"]["running"] == 1, added
        assert runner.version == 1
        assert runner.classify(window).label == "cycling"

        reset = await over_the_socket(data_dir, "model.reset", model="activity")
        assert reset["running"] == 0
        assert runner.version == 0
        assert runner.classify(window).label != "cycling"


def context_versions(data_dir: Path, after: float) -> list[int | None]:
    """The model version each ``context.activity`` reading stamped after ``after`` names, in time order."""
    store = open_readings(data_dir, read_only=True)
    try:
        return [r.version for r in store.readings_between(["context.activity"], after, after + 3600)]
    finally:
        store.close()


async def test_context_readings_name_the_model_version_that_made_them(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    start = round(time.time()) - 3600.0
    record_cycling(data_dir, start, 50)
    # Every window (10 s) that wins is recorded: the test waits for windows, not for debouncing.
    async with running(data_dir, debounce=1) as agent:
        began = time.time()
        await eventually(lambda: context_versions(data_dir, began), "a context reading as shipped", within=60)
        assert set(context_versions(data_dir, began)) == {0}

        added = await perform(
            RunningHub(agent),
            "label.add",
            {"model": "activity", "start_ts": start, "end_ts": start + 50, "cls": "cycling"},
        )
        assert added["adaptation"]["running"] == 1, added
        # Every window that ends from now on is classified by version 1, and the hub states the current
        # label again under it (without waiting for the wearer to change activity). A window is stamped
        # with its end, up to one sample (0.1 s) after its last reading: the second leaves room for that.
        adapted = time.time() + 1
        await eventually(lambda: context_versions(data_dir, adapted), "a context reading of v1", within=60)
        assert set(context_versions(data_dir, adapted)) == {1}

        await perform(RunningHub(agent), "model.reset", {"model": "activity"})
        reset = time.time() + 1
        await eventually(lambda: context_versions(data_dir, reset), "a reading as shipped again", within=60)
        assert set(context_versions(data_dir, reset)) == {0}


async def test_hearth_label_add_beside_a_running_hub_says_when_its_span_taught_nothing(
    tmp_path: Path,
) -> None:
    """A span with no readings of the model's inputs (in the future, or before they were recorded) is
    kept as a label, and the command says it teaches nothing: the version the other labels taught runs on,
    and no new one is recorded."""
    data_dir = tmp_path / "data"
    start = round(time.time()) - 3600.0
    record_cycling(data_dir, start, 50)
    config = tmp_path / "hearth.toml"
    config.write_text(f'[hub]\nid = "h"\ndata_dir = "{data_dir}"\n')

    def label(begin: float, end: float) -> Result:
        args = [
            "label",
            "add",
            "-c",
            str(config),
            "activity",
            "cycling",
            "--from",
            str(begin),
            "--to",
            str(end),
        ]
        return CliRunner().invoke(cli, args)

    async with running(data_dir):
        taught = await asyncio.to_thread(label, start, start + 50)
        assert taught.exit_code == 0, taught.output
        assert "teaches nothing" not in taught.output
        ahead = time.time() + 3600
        empty = await asyncio.to_thread(label, ahead, ahead + 60)
    assert empty.exit_code == 0, empty.output
    assert "label 2: activity was cycling" in empty.output
    assert "no complete window of activity's inputs was recorded in its span" in empty.output
    assert "it starts after now (" in empty.output
    assert "UTC): times without a zone are in UTC" in empty.output
    assert "starts after now" not in taught.output
    assert "activity: kept version 1: its labels hold the same windows that version 1 learnt from" in (
        empty.output
    )
