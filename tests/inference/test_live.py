"""The live pipeline on the held-out test split: simulated source → recorder → windows → LiteRT → store.

Everything is real: the simulated source replays the split from a CSV, the recorder commits to a SQLite
file in a temporary folder, the listener assembles windows and the LiteRT interpreter classifies them.
The replay runs faster than real time, so each model entry reads its streams at the replay's rate.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import numpy as np

from agent.config import config_from_mapping
from agent.daemon import Agent
from agent.inference.evaluate import evaluate, score
from agent.inference.pipeline import WindowResult, inference_of
from agent.inference.runtime import Model
from agent.store.readings import open_readings

from .conftest import ACTIVITY_INPUTS, activity_entry, hub, write_replay


async def run_until(agent: Agent, event: asyncio.Event, limit: float) -> None:
    """Run the hub until ``event`` is set (``limit`` s at most), then stop it."""
    task = asyncio.create_task(agent.run())
    try:
        await asyncio.wait_for(event.wait(), limit)
    finally:
        agent.stop()
        await task


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
    await run_until(agent, done, 100)
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
    # Ten smart plugs, each replaying ten held-out recordings at the simulated source's top rate, each
    # watched by its own model entry: the whole split in a fifth of the time one plug would take.
    with np.load(appliance.directory / "test.npz") as data:
        x, truth = data["x"].astype(np.float64), data["y"].astype(np.int64)
    plugs, rate = 10, 1000.0
    sources: list[dict[str, object]] = []
    entries: list[dict[str, object]] = []
    for k in range(plugs):
        csv = tmp_path / f"plug{k}.csv"
        part = x[k * 10 : (k + 1) * 10, 0].reshape(-1)
        csv.write_text("power\n" + "".join(f"{v:.6g}\n" for v in part), encoding="utf-8")
        sources.append(
            {"kind": "simulated", "name": f"plug{k}", "file": str(csv), "rate": rate, "loop": False}
        )
        entries.append(
            {
                "name": f"appliance{k}",
                "model": "builtin:appliance",
                "inputs": {"power": f"plug{k}.power"},
                "debounce": 1,
                "min_confidence": 0.0,
                "input_rate": rate,
            }
        )
    agent = Agent(config_from_mapping(hub(tmp_path, sources=sources, models=entries)), health_every=60)
    inference = inference_of(agent)
    assert inference is not None
    results: dict[str, list[WindowResult]] = {f"appliance{k}": [] for k in range(plugs)}
    done = asyncio.Event()

    def collector(name: str) -> Callable[[WindowResult], None]:
        def collect(result: WindowResult) -> None:
            results[name].append(result)
            if sum(len(r) for r in results.values()) >= len(truth):
                done.set()

        return collect

    for name, runner in inference.runners.items():
        runner.on_result.append(collector(name))
    await run_until(agent, done, 100)
    for runner in inference.runners.values():
        assert runner.stats["skipped_gaps"] == runner.stats["skipped_missing"] == 0
    assert [len(r) for r in results.values()] == [10] * plugs
    labels = appliance.card.labels
    predicted = np.array(
        [labels.index(r.prediction.label) for k in range(plugs) for r in results[f"appliance{k}"]]
    )
    live = score(truth, predicted, len(labels))
    offline = evaluate(appliance)
    assert abs(live.accuracy - offline.accuracy) <= 0.01, (live.accuracy, offline.accuracy)
    assert abs(live.macro_f1 - offline.macro_f1) <= 0.01
    for name, own in results.items():
        assert context_labels(agent, f"context.{name}") == switches([r.prediction.label for r in own])


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
    await run_until(agent, enough, 60)
    assert runner.stats["inferences"] == 0
    assert runner.stats["skipped_gaps"] >= 1
    assert context_labels(agent, "context.activity") == []
