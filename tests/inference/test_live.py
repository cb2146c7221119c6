"""The live pipeline on the held-out test split: simulated source → recorder → windows → LiteRT → store.

Everything is real: the simulated source replays the split from a CSV, the recorder commits to a SQLite
file in a temporary folder, the listener assembles windows and the LiteRT interpreter classifies them.
The replay runs faster than real time, so each model entry reads its streams at the replay's rate.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from agent.config import config_from_mapping
from agent.daemon import Agent
from agent.inference.evaluate import evaluate, score
from agent.inference.pipeline import WindowResult, inference_of
from agent.inference.runtime import Model
from agent.store.readings import open_readings

from .conftest import ACTIVITY_INPUTS, activity_entry, hub, write_replay


async def replay(
    tmp_path: Path, source: dict[str, object], entry: dict[str, object], expected: int
) -> tuple[list[WindowResult], Agent]:
    """Run a hub until ``expected`` windows of model ``entry`` are classified; stop it; return them."""
    agent = Agent(config_from_mapping(hub(tmp_path, sources=[source], models=[entry])), health_every=60)
    inference = inference_of(agent)
    assert inference is not None
    runner = inference.runners[str(entry["name"])]
    results: list[WindowResult] = []
    done = asyncio.Event()

    def collect(result: WindowResult) -> None:
        results.append(result)
        if len(results) >= expected:
            done.set()

    runner.on_result.append(collect)
    task = asyncio.create_task(agent.run())
    try:
        await asyncio.wait_for(done.wait(), 100)
    finally:
        agent.stop()
        await task
    assert runner.stats["skipped_gaps"] == runner.stats["skipped_missing"] == 0
    assert runner.stats["queue_dropped"] == 0
    return results, agent


def context_labels(agent: Agent, stream: str) -> list[str]:
    store = open_readings(agent.data_dir, read_only=True)
    try:
        rows = store.conn.execute(
            "SELECT r.label FROM readings r JOIN streams s ON s.id = r.stream_id "
            "WHERE s.name = ? AND s.kind = 'context' ORDER BY r.ts",
            (stream,),
        ).fetchall()
    finally:
        store.close()
    return [label for (label,) in rows]


def switches(labels: list[str]) -> list[str]:
    return [label for i, label in enumerate(labels) if i == 0 or labels[i - 1] != label]


def check_against_offline(model: Model, truth: np.ndarray, results: list[WindowResult], agent: Agent) -> None:
    labels = model.card.labels
    predicted = np.array([labels.index(r.prediction.label) for r in results])
    live = score(truth, predicted, len(labels))
    offline = evaluate(model)
    assert abs(live.accuracy - offline.accuracy) <= 0.01, (live.accuracy, offline.accuracy)
    assert abs(live.macro_f1 - offline.macro_f1) <= 0.01
    # debounce=1, min_confidence=0: the stored strand switches exactly where the predictions change.
    stream = f"context.{model.name}"
    assert context_labels(agent, stream) == switches([r.prediction.label for r in results])


async def test_activity_replay_matches_offline_evaluation(tmp_path: Path, activity: Model) -> None:
    csv = tmp_path / "wrist.csv"
    truth = write_replay(
        activity, csv, [f"{q}[{i.unit}]" for q, i in zip(ACTIVITY_INPUTS, activity.card.inputs, strict=True)]
    )
    rate = 500.0
    source = {"kind": "simulated", "name": "wrist", "file": str(csv), "rate": rate, "loop": False}
    entry = activity_entry(debounce=1, min_confidence=0.0, input_rate=rate)
    results, agent = await replay(tmp_path, source, entry, len(truth))
    assert len(results) == len(truth)
    check_against_offline(activity, truth, results, agent)


async def test_appliance_replay_matches_offline_evaluation(tmp_path: Path, appliance: Model) -> None:
    csv = tmp_path / "plug.csv"
    truth = write_replay(appliance, csv, ["power"])
    rate = 8000.0
    source = {"kind": "simulated", "name": "plug", "file": str(csv), "rate": rate, "loop": False}
    entry = {
        "name": "appliance",
        "model": "builtin:appliance",
        "inputs": {"power": "plug.power"},
        "debounce": 1,
        "min_confidence": 0.0,
        "input_rate": rate,
    }
    results, agent = await replay(tmp_path, source, entry, len(truth))
    assert len(results) == len(truth)
    check_against_offline(appliance, truth, results, agent)


async def test_silent_input_skips_windows_and_counts_them(tmp_path: Path, activity: Model) -> None:
    acc = tmp_path / "wrist.csv"
    gyro = tmp_path / "band.csv"
    with np.load(activity.directory / "test.npz") as data:
        x = data["x"][:10].transpose(0, 2, 1).reshape(-1, 6)
    acc.write_text("acc_x,acc_y,acc_z\n" + "".join(f"{a},{b},{c}\n" for a, b, c, *_ in x), encoding="utf-8")
    gyro.write_text(
        "gyro_x,gyro_y,gyro_z\n" + "".join(f"{d},{e},{f}\n" for *_, d, e, f in x[:5]), encoding="utf-8"
    )
    rate = 500.0
    sources = [
        {"kind": "simulated", "name": "wrist", "file": str(acc), "rate": rate, "loop": False},
        {"kind": "simulated", "name": "band", "file": str(gyro), "rate": rate, "loop": False},
    ]
    inputs = {q: f"{'wrist' if q.startswith('acc') else 'band'}.{q}" for q in ACTIVITY_INPUTS}
    entry = {"name": "activity", "model": "builtin:activity", "inputs": inputs, "input_rate": rate}
    agent = Agent(config_from_mapping(hub(tmp_path, sources=sources, models=[entry])), health_every=60)
    inference = inference_of(agent)
    assert inference is not None
    runner = inference.runners["activity"]
    enough = asyncio.Event()

    def on_skip(_window: object) -> None:
        if runner.stats["skipped_gaps"] + runner.stats["skipped_missing"] >= 9:
            enough.set()

    runner.on_skip.append(on_skip)
    task = asyncio.create_task(agent.run())
    try:
        await asyncio.wait_for(enough.wait(), 60)
    finally:
        agent.stop()
        await task
    assert runner.stats["inferences"] == 0
    assert runner.stats["skipped_gaps"] >= 1
    assert context_labels(agent, "context.activity") == []
