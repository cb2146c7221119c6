"""Inference benchmark: window → context through the agent's runtime path vs bare ``Interpreter.invoke``.

For each shipped model, in the same run and process:
- baseline: ``set_tensor`` (an already quantised window) + ``invoke`` + ``get_tensor`` on a bare interpreter;
- agent: what the runner's service does with each window, ``ModelRunner.classify_versioned`` (normalisation
  and quantisation folded into one multiply-add, invoke, dequantisation, arg-max, the version that
  classified) then ``ModelRunner.handle`` (debouncing and the context sink);
- adapted: the same with an owner-adapted head running (one fitted on the shipped training embeddings,
  three of them taken as the owner's): the embedding through the head, and whether the head answers;
- pipeline: readings of the held-out split fed through the recorder listener (resampling and window
  assembly) and classified, as windows per second.

Run from the repository root: ``python benchmarks/inference.py [--quick]``. The last line is JSON for the
model with the worse ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from agent.inference.evaluate import load_test_split
from agent.inference.pipeline import ModelRunner
from agent.inference.runtime import Model
from agent.inference.windows import Window
from agent.learning import head as heads
from agent.readings import Reading

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import report


def per_call(fn: Callable[[], object], calls: int, rounds: int) -> float:
    """Median over ``rounds`` of the mean seconds per call of ``fn``."""
    results = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        results.append((time.perf_counter() - start) / calls)
    return statistics.median(results)


def owner_head(model: Model) -> heads.Head:
    """A head over ``model``'s embedding, fitted on its shipped training embeddings (three as the owner's)."""
    assert model.card.embedding is not None
    with np.load(model.directory / model.card.embedding.train) as data:
        x, y = data["x"], data["y"]
    mean, scale = heads.standardisation(x, y)
    owner = np.zeros(len(y), dtype=bool)
    owner[:3] = True
    return heads.fit(model.card.labels, x, y, owner, mean=mean, scale=scale)


def bench(name: str, calls: int, rounds: int) -> dict[str, float]:
    model = Model.load(f"builtin:{name}", num_threads=1)
    x, _ = load_test_split(model)
    bare = Interpreter(model_content=model.model_file.read_bytes(), num_threads=1)
    bare.allocate_tensors()
    inp, out = bare.get_input_details()[0], bare.get_output_details()[0]
    quantised = [model.quantise(w).copy() for w in x]
    runner = ModelRunner(name, model, [i.name for i in model.card.inputs], sink=None, debounce=2)
    windows = [Window(0.0, 1.0, w) for w in x]
    state = {"i": 0}

    def baseline() -> None:
        i = state["i"] = (state["i"] + 1) % len(quantised)
        bare.set_tensor(inp["index"], quantised[i])
        bare.invoke()
        bare.get_tensor(out["index"])

    def agent() -> None:
        i = state["i"] = (state["i"] + 1) % len(windows)
        window = windows[i]
        assert window.data is not None
        prediction, version = runner.classify_versioned(window.data)
        runner.handle(window, prediction, version=version)

    adapted = ModelRunner(name, model, [i.name for i in model.card.inputs], sink=None, debounce=2)
    adapted.use(1, owner_head(model))

    def with_head() -> None:
        i = state["i"] = (state["i"] + 1) % len(windows)
        window = windows[i]
        assert window.data is not None
        prediction, version = adapted.classify_versioned(window.data)
        adapted.handle(window, prediction, version=version)

    for fn in (baseline, agent, with_head):  # warm-up
        per_call(fn, calls // 4 + 1, 1)
    base_times, agent_times, head_times = [], [], []
    for _ in range(rounds):  # interleaved, so all see the same machine load
        base_times.append(per_call(baseline, calls, 1))
        agent_times.append(per_call(agent, calls, 1))
        head_times.append(per_call(with_head, calls, 1))
    base_s, agent_s = statistics.median(base_times), statistics.median(agent_times)
    head_s = statistics.median(head_times)

    # Whole pipeline: readings of the held-out split → windows → classify.
    streams = [f"dev.{i.name}" for i in model.card.inputs]
    rate = model.card.rate_hz
    readings = [
        Reading(stream, k / rate, float(value))
        for k, row in enumerate(x.reshape(-1, x.shape[2]))
        for stream, value in zip(streams, row, strict=True)
    ]
    pipeline = ModelRunner(name, model, streams, sink=None, debounce=2)
    batch = 5000
    start = time.perf_counter()
    classified = 0
    for i in range(0, len(readings), batch):
        pipeline.on_readings(readings[i : i + batch])
        while pipeline._queue:
            window = pipeline._queue.popleft()
            assert window.data is not None
            prediction, version = pipeline.classify_versioned(window.data)
            pipeline.handle(window, prediction, version=version)
            classified += 1
    pipeline_s = time.perf_counter() - start
    return {
        "bare_us": base_s * 1e6,
        "agent_us": agent_s * 1e6,
        "ratio": agent_s / base_s,
        "windows_per_s": 1.0 / agent_s,
        "adapted_us": head_s * 1e6,
        "adapted_ratio": head_s / base_s,
        "pipeline_windows_per_s": classified / pipeline_s,
        "pipeline_readings_per_s": len(readings) / pipeline_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a CI-sized run")
    args = parser.parse_args()
    calls, rounds = (200, 5) if args.quick else (2000, 15)
    results = {}
    for name in ("activity", "appliance"):
        r = results[name] = bench(name, calls, rounds)
        print(
            f"{name}: agent {r['agent_us']:.1f} us/window vs bare invoke {r['bare_us']:.1f} us "
            f"(ratio {r['ratio']:.2f}); {r['windows_per_s']:.0f} windows/s; with an adapted head "
            f"{r['adapted_us']:.1f} us (ratio {r['adapted_ratio']:.2f}); whole pipeline from readings "
            f"{r['pipeline_windows_per_s']:.0f} windows/s ({r['pipeline_readings_per_s']:.0f} readings/s)"
        )
    worst = max(results, key=lambda n: results[n]["ratio"])
    r = results[worst]
    report(
        "inference",
        round(r["agent_us"], 1),
        f"us/window ({worst})",
        baseline=round(r["bare_us"], 1),
        ratio=round(r["ratio"], 2),
        target="<= 1.5",
    )


if __name__ == "__main__":
    main()
