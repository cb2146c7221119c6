"""Window assembly: resampling to the card's rate, skipping missing and stale inputs, debouncing."""

from __future__ import annotations

import numpy as np

from agent.inference.pipeline import Debouncer, Inference, ModelRunner
from agent.inference.runtime import Model
from agent.inference.windows import Window, WindowAssembler
from agent.readings import Reading


def stream(name: str, values: list[float], rate: float, t0: float = 1000.0) -> list[Reading]:
    return [Reading(name, t0 + i / rate, v) for i, v in enumerate(values)]


def test_regular_stream_gives_its_samples_unchanged() -> None:
    assembler = WindowAssembler(["a.x"], rate=10, window=5, hop=5)
    windows = assembler.feed(stream("a.x", [float(i) for i in range(12)], 10))
    assert [w.data[:, 0].tolist() for w in windows if w.data is not None] == [
        [0, 1, 2, 3, 4],
        [5, 6, 7, 8, 9],
    ]
    assert windows[0].end_ts - windows[0].start_ts == 0.5


def test_faster_stream_is_averaged_down_to_the_card_rate() -> None:
    assembler = WindowAssembler(["a.x"], rate=10, window=3, hop=3)
    readings = []
    for k in range(5):  # two readings per 100 ms bin, 40 ms apart
        readings += [
            Reading("a.x", 1000.0 + k * 0.1, 2.0 * k),
            Reading("a.x", 1000.04 + k * 0.1, 2.0 * k + 2),
        ]
    (window,) = assembler.feed(readings)
    assert window.data is not None
    assert window.data[:, 0].tolist() == [1, 3, 5]


def test_overlapping_windows_with_a_hop() -> None:
    assembler = WindowAssembler(["a.x"], rate=1, window=4, hop=2)
    windows = assembler.feed(stream("a.x", [float(i) for i in range(8)], 1))
    assert [w.data[0, 0] for w in windows if w.data is not None] == [0, 2, 4]


def test_short_gap_is_held_from_the_previous_sample() -> None:
    assembler = WindowAssembler(["a.x"], rate=1, window=20, hop=20)
    readings = [r for r in stream("a.x", [float(i) for i in range(20)], 1) if r.value != 7]
    (window,) = assembler.feed(readings)
    assert window.data is not None
    assert window.data[7, 0] == 6


def test_input_that_never_speaks_skips_the_window() -> None:
    assembler = WindowAssembler(["a.x", "b.y"], rate=1, window=4, hop=4)
    windows = assembler.feed(stream("a.x", [1.0] * 9, 1))
    assert [w.skipped for w in windows] == ["missing"]


def test_input_with_large_gaps_skips_the_window() -> None:
    assembler = WindowAssembler(["a.x"], rate=1, window=10, hop=10)
    readings = stream("a.x", [1.0] * 10, 1)
    windows = assembler.feed(readings[:3] + readings[9:])
    assert [w.skipped for w in windows] == ["gaps"]


def test_long_silence_skips_to_the_fresh_data() -> None:
    assembler = WindowAssembler(["a.x"], rate=1, window=4, hop=4)
    first = stream("a.x", [1.0] * 4, 1)
    later = stream("a.x", [2.0] * 4, 1, t0=1000.0 + 400)
    windows = assembler.feed(first + later)
    assert windows[0].data is not None
    assert windows[1].skipped == "stale:99"
    assert windows[2].data is not None
    assert np.all(windows[2].data == 2.0)


def test_old_readings_are_counted_and_ignored() -> None:
    assembler = WindowAssembler(["a.x"], rate=1, window=2, hop=2)
    assembler.feed(stream("a.x", [1.0, 2.0, 3.0], 1))
    assembler.feed([Reading("a.x", 1000.0, 9.0)])
    assert assembler.late == 1


def test_debouncer_needs_a_streak_with_confidence() -> None:
    debouncer = Debouncer(2, 0.6)
    assert not debouncer.update("walking", 0.9)
    assert debouncer.update("walking", 0.9)
    assert not debouncer.update("running", 0.9)
    assert not debouncer.update("walking", 0.9)
    assert not debouncer.update("running", 0.5)
    assert debouncer.low_confidence == 1
    assert debouncer.current == "walking"


async def test_a_window_the_interpreter_rejects_is_counted_not_fatal(activity: Model) -> None:
    runner = ModelRunner("activity", activity, [f"w.{i.name}" for i in activity.card.inputs], sink=None)
    runner.submit(Window(0.0, 5.0, np.zeros((50, 6), dtype=np.float32)))
    runner.submit(Window(5.0, 15.0, np.zeros((100, 6), dtype=np.float32)))
    await runner.drain()
    assert runner.stats["errors"] == 1
    assert runner.stats["inferences"] == 1


async def test_queue_keeps_the_newest_windows(activity: Model) -> None:
    runner = ModelRunner("activity", activity, [f"w.{i.name}" for i in activity.card.inputs], sink=None)
    for k in range(40):
        runner.submit(Window(float(k), k + 10.0, np.zeros((100, 6), dtype=np.float32)))
    assert runner.stats["queue_dropped"] == 8
    seen: list[float] = []
    runner.on_result.append(lambda r: seen.append(r.start_ts))
    await runner.drain()
    assert seen == [float(k) for k in range(8, 40)]


async def test_the_models_load_check_fails_while_the_latest_window_failed(activity: Model) -> None:
    inference = Inference()
    runner = ModelRunner("activity", activity, [f"w.{i.name}" for i in activity.card.inputs], sink=None)
    inference.runners["activity"] = runner
    try:
        assert await inference.health() is None
        runner.submit(Window(0.0, 5.0, np.zeros((50, 6), dtype=np.float32)))
        await runner.drain()
        reason = await inference.health()
        assert reason is not None
        assert reason.startswith("model activity failed on its latest window")
        runner.submit(Window(5.0, 15.0, np.zeros((100, 6), dtype=np.float32)))
        await runner.drain()
        assert await inference.health() is None
    finally:
        inference.executor.shutdown(wait=False)
