"""The named reads of the readings file (``agent.store.queries``), on real SQLite files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.readings import Reading, StreamInfo
from agent.store import open_readings, queries
from agent.store.readings import ReadingsStore
from agent.store.sqlite import read_snapshot

T0 = 1_700_000_400.0  # 2023-11-14 22:20:00 UTC, on a minute boundary
TEMP = StreamInfo.of("living_room", "temperature", "°C")
HUM = StreamInfo.of("living_room", "humidity", "%")
POWER = StreamInfo.of("kitchen_plug", "power", "W")
ACTIVITY = StreamInfo.of("context", "activity", kind="context")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ReadingsStore]:
    """A readings file with four streams: temperature each 10 s for two minutes, the others sparse."""
    store = open_readings(tmp_path)
    declarations = [("simulated", s) for s in (TEMP, HUM, POWER, ACTIVITY)]
    readings = [Reading(TEMP.name, T0 + i * 10, 20.0 + i) for i in range(12)]
    readings += [Reading(HUM.name, T0 + 5, 40.0), Reading(HUM.name, T0 + 65, 42.0)]
    readings += [
        Reading(ACTIVITY.name, T0 + 1, 0.9, "sitting"),
        Reading(ACTIVITY.name, T0 + 61, 0.8, "walking", 2),
    ]
    store.write_batch(readings, declarations)
    yield store
    store.close()


def reader(store: ReadingsStore) -> ReadingsStore:
    return open_readings(store.path.parent, read_only=True)


def test_streams_come_in_declaration_order_with_their_units(store: ReadingsStore) -> None:
    assert [(s.name, s.unit) for s in queries.streams(store.conn)] == [
        (TEMP.name, "°C"),
        (HUM.name, "%"),
        (POWER.name, "W"),
        (ACTIVITY.name, ""),
    ]
    assert queries.stream_names(store.conn) == sorted([TEMP.name, HUM.name, POWER.name, ACTIVITY.name])
    named = queries.stream_named(store.conn, POWER.name)
    assert named is not None
    assert (named.name, named.unit) == (POWER.name, "W")
    assert queries.stream_named(store.conn, "garage.power") is None


def test_the_catalogue_describes_each_stream_by_name_or_by_id(store: ReadingsStore) -> None:
    by_name = queries.stream_catalogue(store.conn)
    assert [m.name for m in by_name] == queries.stream_names(store.conn)
    by_id = queries.stream_catalogue(store.conn, order="id")
    assert [m.name for m in by_id] == [s.name for s in queries.streams(store.conn)]
    (power,) = queries.stream_catalogue(store.conn, only=POWER.name)
    assert power[1:] == (POWER.name, "kitchen_plug", "simulated", "power", "W", "sensor")
    assert queries.stream_catalogue(store.conn, only="nowhere.nothing") == []


def test_streams_by_device_and_device_exists(store: ReadingsStore) -> None:
    assert queries.streams_by_device(store.conn) == {
        "context": [ACTIVITY.name],
        "kitchen_plug": [POWER.name],
        "living_room": [HUM.name, TEMP.name],
    }
    assert queries.device_exists(store.conn, "kitchen_plug")
    assert not queries.device_exists(store.conn, "garage")


def test_window_aggregates_cover_start_up_to_but_not_including_end(store: ReadingsStore) -> None:
    sid = {s.name: s.id for s in queries.streams(store.conn)}[TEMP.name]
    whole = queries.window_aggregates(store.conn, sid, start=T0, end=T0 + 120, window_s=60)
    k = int(T0 // 60)
    assert whole == [(k, 6, 22.5, 20.0, 25.0), (k + 1, 6, 28.5, 26.0, 31.0)]
    # The reading at T0 + 60 opens the second window: an end there leaves it out.
    assert queries.window_aggregates(store.conn, sid, start=T0, end=T0 + 60, window_s=60) == whole[:1]
    assert queries.window_aggregates(store.conn, sid, start=T0 + 120, end=T0 + 999, window_s=60) == []


def test_rows_between_is_oldest_first_and_bounded(store: ReadingsStore) -> None:
    sid = {s.name: s.id for s in queries.streams(store.conn)}[ACTIVITY.name]
    assert queries.rows_between(store.conn, sid, start=T0, end=T0 + 120, limit=10) == [
        (T0 + 1, 0.9, "sitting"),
        (T0 + 61, 0.8, "walking"),
    ]
    first = queries.rows_between(store.conn, sid, start=T0, end=T0 + 120, limit=1)
    assert first == [(T0 + 1, 0.9, "sitting")]
    assert queries.rows_between(store.conn, sid, start=T0 + 1.001, end=T0 + 61, limit=10) == []


def test_latest_values_and_bucket_means_read_only_the_recent_range(store: ReadingsStore) -> None:
    sid = {s.name: s.id for s in queries.streams(store.conn)}
    latest = queries.latest_values(store.conn, since=T0 + 60)
    assert latest == {
        sid[TEMP.name]: (T0 + 110, 31.0, None),
        sid[HUM.name]: (T0 + 65, 42.0, None),
        sid[ACTIVITY.name]: (T0 + 61, 0.8, "walking"),
    }
    means = queries.bucket_means(store.conn, since=T0 + 60, bucket_s=30)
    temp = sid[TEMP.name]
    assert [m for m in means if m[0] == temp] == [(temp, 0, 27.0), (temp, 1, 30.0)]
    assert (sid[HUM.name], 0, 42.0) in means


def test_context_reads(store: ReadingsStore) -> None:
    ids = queries.context_streams(store.conn)
    assert list(ids.values()) == [ACTIVITY.name]
    (sid,) = ids
    # A context reading names the model version that made it.
    assert queries.readings_since(store.conn, ids, since=T0 + 30) == [(sid, T0 + 61, 0.8, "walking", 2)]
    assert queries.readings_since(store.conn, [], since=T0) == []
    assert queries.context_log(store.conn) == [
        (ACTIVITY.name, T0 + 1, 0.9, "sitting"),
        (ACTIVITY.name, T0 + 61, 0.8, "walking"),
    ]


def test_reading_counts_include_streams_without_readings(store: ReadingsStore) -> None:
    assert queries.reading_counts(store.conn) == [
        (ACTIVITY.name, 2),
        (POWER.name, 0),
        (HUM.name, 2),
        (TEMP.name, 12),
    ]


def test_reads_work_on_a_read_only_connection(store: ReadingsStore) -> None:
    other = reader(store)
    try:
        assert queries.stream_names(other.conn) == queries.stream_names(store.conn)
        assert queries.reading_counts(other.conn) == queries.reading_counts(store.conn)
    finally:
        other.close()


def test_export_files_inside_a_snapshot_agree_with_their_rows_while_the_writer_goes_on(
    store: ReadingsStore,
) -> None:
    other = reader(store)
    try:
        with read_snapshot(other.conn) as conn:
            files = queries.export_files(conn)
            store.write_batch([Reading(TEMP.name, T0 + 500, 1.0)])  # committed meanwhile
            for f in files:
                assert len(conn.execute(f.sql).fetchall()) == f.rows, f.name
        by_name = {f.name: f for f in files}
        assert by_name["readings/readings.csv"].rows == 16
        assert by_name["readings/streams.jsonl"].rows == 4
        assert set(by_name) == {
            "readings/devices.jsonl",
            "readings/streams.jsonl",
            "readings/source_health.jsonl",
            "readings/readings.csv",
            "readings/rollups.csv",
        }
        assert queries.export_files(other.conn)[3].rows == 17  # after the snapshot: the new reading
    finally:
        other.close()
