"""Each granularity across several summarise passes: nothing skipped, nothing doubled, bounded per pass."""

from __future__ import annotations

import json
from typing import Any, get_args

from agent.consent import outbox
from agent.consent.granularity import Kind
from agent.readings import Reading, StreamInfo
from agent.sync import summariser
from agent.sync.summariser import RAW_PER_MESSAGE, Summariser

from .conftest import HUB, PREFIX, T0, Hub


def _bodies(hub: Hub) -> list[dict[str, Any]]:
    return [json.loads(r.payload) for r in outbox.next_batch(hub.ledger, after=0, limit=10_000, now=T0)]


def _summariser(hub: Hub, *, max_windows: int) -> Summariser:
    return Summariser(
        hub.ledger, hub.store.conn, hub_id=HUB, prefix=PREFIX, ttl_s=86400.0, cap=100_000, lag_s=0,
        max_windows=max_windows,
    )  # fmt: skip


def test_every_granularity_has_its_own_batcher() -> None:
    assert set(summariser._BATCHERS) == set(get_args(Kind))


def test_raw_sends_every_reading_once_in_messages_of_at_most_raw_per_message(hub: Hub) -> None:
    hub.grant("coop", ["living_room.temperature"], "raw", allow_raw=True)
    hub.record("living_room.temperature", [(T0 + i * 0.01, float(i)) for i in range(1200)])
    hub.summariser.step(T0 + 100)
    bodies = _bodies(hub)
    assert [len(b["readings"]) for b in bodies] == [RAW_PER_MESSAGE, RAW_PER_MESSAGE, 200]
    assert bodies[0]["start"] == T0
    assert bodies[0]["readings"][0] == [T0, 0.0, None]
    assert bodies[-1]["end"] == bodies[-1]["readings"][-1][0]
    assert all(b["unit"] == "C" for b in bodies)
    hub.summariser.step(T0 + 100)
    assert len(_bodies(hub)) == 3
    hub.record("living_room.temperature", [(T0 + 200, 7.0)])
    hub.summariser.step(T0 + 300)
    assert _bodies(hub)[-1]["readings"] == [[T0 + 200, 7.0, None]]


def test_raw_reads_a_bounded_number_of_rows_a_pass_and_goes_on_where_it_stopped(hub: Hub) -> None:
    hub.grant("coop", ["living_room.temperature"], "raw", allow_raw=True)
    hub.record("living_room.temperature", [(T0 + i * 0.5, float(i)) for i in range(250)])
    bounded = _summariser(hub, max_windows=10)  # 100 rows a pass
    sent: list[list[Any]] = []
    for _ in range(3):
        bounded.step(T0 + 1000)
        sent = [r for b in _bodies(hub) for r in b["readings"]]
    assert [len(b["readings"]) for b in _bodies(hub)] == [100, 100, 50]
    assert [r[1] for r in sent] == [float(i) for i in range(250)]
    bounded.step(T0 + 1000)
    assert len(_bodies(hub)) == 3


def test_events_remember_the_last_label_between_passes(hub: Hub) -> None:
    hub.grant("coop", ["context.activity"], "events")
    info = [("inference", StreamInfo.of("context", "activity", kind="context"))]
    first = ["still", "still", "walking"]
    hub.store.write_batch(
        [Reading("context.activity", T0 + 1 + i, 0.9, x) for i, x in enumerate(first)], info
    )
    hub.summariser.step(T0 + 10)
    second = ["walking", "walking", "still"]
    hub.store.write_batch(
        [Reading("context.activity", T0 + 11 + i, 0.8, x) for i, x in enumerate(second)], info
    )
    hub.summariser.step(T0 + 20)
    assert [(b["label"], b["previous"], b["ts"] - T0) for b in _bodies(hub)] == [
        ("still", None, 1),
        ("walking", "still", 3),
        ("still", "walking", 13),
    ]


def test_summaries_send_at_most_max_windows_a_pass(hub: Hub) -> None:
    hub.grant("coop", ["living_room.temperature"], "summary:10s")
    hub.record("living_room.temperature", [(T0 + i, float(i)) for i in range(50)])
    bounded = _summariser(hub, max_windows=2)
    counts = []
    for _ in range(4):
        bounded.step(T0 + 55)
        counts.append(len(_bodies(hub)))
    assert counts == [2, 4, 5, 5]
    assert [b["start"] - T0 for b in _bodies(hub)] == [0, 10, 20, 30, 40]
