"""The context timeline: label changes read from the readings file and drawn as spans."""

from __future__ import annotations

from pathlib import Path

from agent.readings import Reading, StreamInfo
from agent.store.readings import open_readings
from agent.web.pages.context import UNKNOWN, WIDTH, colour, spans
from agent.web.queries import Change, Strand, context_strands

NOW = 1_800_000_000.0


def test_spans_cover_the_window_with_the_label_in_effect_at_each_moment() -> None:
    strand = Strand(
        "context.activity",
        before=Change(NOW - 4000, "standing", 0.9),
        changes=[Change(NOW - 2700, "walking", 0.8), Change(NOW - 900, "running", 0.95)],
    )
    drawn = spans(strand, start=NOW - 3600, now=NOW)
    assert [(s.label, s.confidence) for s in drawn] == [
        ("standing", 0.9),
        ("walking", 0.8),
        ("running", 0.95),
    ]
    assert [s.x for s in drawn] == [0.0, 250.0, 750.0]
    assert sum(s.width for s in drawn) == WIDTH
    assert drawn[1].colour == colour("walking") != UNKNOWN


def test_before_the_first_change_the_label_is_unknown() -> None:
    strand = Strand("context.activity", changes=[Change(NOW - 1800, "walking", 0.7)])
    drawn = spans(strand, start=NOW - 3600, now=NOW)
    assert [(s.label, s.colour) for s in drawn] == [("unknown", UNKNOWN), ("walking", colour("walking"))]


def test_a_label_keeps_its_colour() -> None:
    assert colour("walking") == colour("walking")
    assert {colour(label) for label in ("standing", "walking", "running", "badminton")} != {UNKNOWN}


def test_strands_are_read_from_context_streams_within_the_window_and_lookback(tmp_path: Path) -> None:
    store = open_readings(tmp_path)
    activity = StreamInfo.of("context", "activity", "", kind="context")
    room = StreamInfo.of("room", "temperature", "°C")
    store.write_batch(
        [
            Reading(activity.name, NOW - 9000, 0.6, "badminton"),  # beyond the lookback: not read
            Reading(activity.name, NOW - 4000, 0.9, "standing"),
            Reading(room.name, NOW - 100, 21.5, None),
            Reading(activity.name, NOW - 60, 0.8, "walking"),
        ],
        [("context", activity), ("simulated", room)],
    )
    store.close()
    reader = open_readings(tmp_path, read_only=True)
    try:
        strands = context_strands(
            reader.conn, now=NOW, window_s=3600, lookback_s=3600, names=("context.activity", "context.room")
        )
    finally:
        reader.close()
    assert [s.name for s in strands] == ["context.activity", "context.room"]
    activity_strand, configured_only = strands
    assert activity_strand.before == Change(NOW - 4000, "standing", 0.9)
    assert activity_strand.changes == [Change(NOW - 60, "walking", 0.8)]
    assert configured_only.changes == []
    assert configured_only.before is None
