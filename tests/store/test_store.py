"""The readings and ledger files: schema, permissions, versions, writes, retention."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest
import sqlite_utils

from agent.errors import SchemaVersionError, StoreError
from agent.readings import Reading, StreamInfo, next_stamp
from agent.store import open_ledger, open_readings
from agent.store.readings_schema import MIGRATIONS

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC, on an hour boundary + 1280 s
TEMP = StreamInfo.of("living_room", "temperature", "°C")
HUM = StreamInfo.of("living_room", "humidity", "%")


def test_files_are_private_and_in_wal_mode(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = open_readings(data)
    store.write_batch([Reading(TEMP.name, T0, 21.0)], [("simulated", TEMP)])
    ledger = open_ledger(data)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for name in ("readings.db", "readings.db-wal", "ledger.db"):
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert ledger.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert ledger.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    store.close()
    ledger.close()


def test_a_person_can_read_the_file_with_sqlite_utils(tmp_path: Path) -> None:
    store = open_readings(tmp_path)
    store.write_batch(
        [Reading(TEMP.name, T0, 21.5), Reading(HUM.name, T0, 40.0)],
        [("simulated", TEMP), ("simulated", HUM)],
    )
    store.close()
    db = sqlite_utils.Database(tmp_path / "readings.db")
    rows = list(db.query("SELECT time, stream, value, unit FROM reading_log ORDER BY stream"))
    assert rows == [
        {"time": "2023-11-14 22:13:20.000", "stream": HUM.name, "value": 40.0, "unit": "%"},
        {"time": "2023-11-14 22:13:20.000", "stream": TEMP.name, "value": 21.5, "unit": "°C"},
    ]
    assert {"devices", "streams", "readings", "rollups", "source_health"} <= set(db.table_names())


def test_same_stream_same_instant_keeps_the_later_value(tmp_path: Path) -> None:
    store = open_readings(tmp_path)
    store.write_batch([Reading(TEMP.name, T0, 21.0)], [("simulated", TEMP)])
    store.write_batch([Reading(TEMP.name, T0, 22.0)])
    assert store.count_readings() == 1
    assert store.conn.execute("SELECT value FROM readings").fetchone()[0] == 22.0


def test_undeclared_streams_are_skipped_not_fatal(tmp_path: Path) -> None:
    store = open_readings(tmp_path)
    written = store.write_batch(
        [Reading(TEMP.name, T0, 21.0), Reading("ghost.power", T0, 5.0)], [("simulated", TEMP)]
    )
    assert written == 1
    assert store.count_readings() == 1


def test_newer_schema_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    open_readings(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "readings.db")
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 3}")
    conn.close()
    with pytest.raises(SchemaVersionError, match="newer Hearth"):
        open_readings(tmp_path)


def test_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "readings.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="is not a usable readings file"):
        open_readings(tmp_path)


def test_reopening_keeps_data_and_stream_ids(tmp_path: Path) -> None:
    store = open_readings(tmp_path)
    store.write_batch([Reading(TEMP.name, T0, 21.0)], [("simulated", TEMP)])
    store.close()
    again = open_readings(tmp_path)
    again.write_batch([Reading(TEMP.name, T0 + 1, 21.1)])  # no new declaration needed
    assert again.count_readings(TEMP.name) == 2


def test_a_size_budget_rolls_up_the_oldest_hours_early_and_the_file_stops_growing(tmp_path: Path) -> None:
    store = open_readings(tmp_path)
    hour = T0 // 3600 * 3600
    store.write_batch([], [("simulated", TEMP)])
    budget = 400_000
    sizes = []
    total = 0
    for day in range(4):  # a day at 1 Hz of one stream, then a retention pass, as a hub would
        start = hour + day * 86400
        for h in range(24):
            store.write_batch([Reading(TEMP.name, start + h * 3600 + s, 20.0) for s in range(3600)])
        total += 86400
        now = start + 86400
        result = store.apply_retention(
            now=now, raw_s=30 * 86400, minute_s=90 * 86400, hour_s=3650 * 86400, max_bytes=budget
        )
        assert store.used_bytes() <= budget
        assert result.raw_over_budget == result.raw_rolled_up  # nothing was old enough to go anyway
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        sizes.append((tmp_path / "readings.db").stat().st_size)
    assert result.raw_over_budget > 0
    assert sizes[3] == sizes[2]  # the freed pages were reused: the file no longer grows
    # Nothing is lost but resolution: the hour rollups count every reading that went early.
    (rolled,) = store.conn.execute("SELECT sum(count) FROM rollups WHERE period = 3600").fetchone()
    assert rolled + store.count_readings() == total
    (oldest,) = store.conn.execute("SELECT min(ts) FROM readings").fetchone()
    assert oldest % 3600 == 0  # whole hours went, oldest first


def test_retention_rolls_up_then_deletes(tmp_path: Path) -> None:
    store = open_readings(tmp_path)
    hour = T0 // 3600 * 3600
    old = [Reading(TEMP.name, hour + i * 30, float(i)) for i in range(240)]  # 2 h at 30 s
    recent = [Reading(TEMP.name, hour + 10 * 86400 + i, 1.0) for i in range(5)]
    store.write_batch(old + recent, [("simulated", TEMP)])
    now = hour + 10 * 86400 + 10
    result = store.apply_retention(now=now, raw_s=86400, minute_s=30 * 86400, hour_s=365 * 86400)
    assert result.raw_rolled_up == 240
    assert store.count_readings() == 5
    minutes = list(store.db.query("SELECT * FROM rollup_log WHERE period = 'minute' ORDER BY start"))
    assert len(minutes) == 120
    assert minutes[0]["count"] == 2
    assert (minutes[0]["min"], minutes[0]["max"], minutes[0]["mean"]) == (0.0, 1.0, 0.5)
    hours = list(store.db.query("SELECT * FROM rollup_log WHERE period = 'hour' ORDER BY start"))
    assert [h["count"] for h in hours] == [120, 120]
    assert hours[1]["mean"] == pytest.approx(sum(range(120, 240)) / 120)
    # A second pass changes nothing; old rollups expire by their own retention.
    assert (
        store.apply_retention(now=now, raw_s=86400, minute_s=30 * 86400, hour_s=365 * 86400).raw_rolled_up
        == 0
    )
    gone = store.apply_retention(now=now, raw_s=86400, minute_s=86400, hour_s=365 * 86400)
    assert gone.minute_rollups_deleted == 120
    assert gone.hour_rollups_deleted == 0


def test_late_readings_merge_into_existing_rollups(tmp_path: Path) -> None:
    store = open_readings(tmp_path)
    hour = T0 // 3600 * 3600
    store.write_batch([Reading(TEMP.name, hour + 1, 10.0)], [("simulated", TEMP)])
    now = hour + 3 * 86400
    store.apply_retention(now=now, raw_s=86400, minute_s=9e9, hour_s=9e9)
    store.write_batch([Reading(TEMP.name, hour + 2, 30.0)])  # arrives after its hour was rolled up
    store.apply_retention(now=now, raw_s=86400, minute_s=9e9, hour_s=9e9)
    (count, total, low, high) = store.conn.execute(
        "SELECT count, sum, min, max FROM rollups WHERE period = 3600"
    ).fetchone()
    assert (count, total, low, high) == (2, 40.0, 10.0, 30.0)


def test_stream_overview_shows_last_values_and_rates(tmp_path: Path) -> None:
    store = open_readings(tmp_path)
    now = T0 + 100
    store.write_batch(
        [Reading(TEMP.name, now - 60 + i, 20.0 + i / 100) for i in range(60)], [("simulated", TEMP)]
    )
    store.write_batch([], [("simulated", HUM)])
    rows = {r["stream"]: r for r in store.stream_overview(now=now, rate_window_s=30)}
    assert rows[TEMP.name]["last_value"] == pytest.approx(20.59)
    assert rows[TEMP.name]["rate"] == pytest.approx(30 / 30, abs=0.05)
    assert rows[HUM.name]["last_value"] is None
    assert rows[HUM.name]["rate"] == 0


def test_next_stamp_never_lands_two_readings_on_one_millisecond(tmp_path: Path) -> None:
    store = open_readings(tmp_path)
    last = 0.0
    batch = []
    t = 1_700_000_000.0004999
    for _ in range(5000):  # a burst far faster than the clock ticks
        last = next_stamp(t, last)
        batch.append(Reading(TEMP.name, last, 1.0))
        t += 0.0000997
    store.write_batch(batch, [("simulated", TEMP)])
    assert store.count_readings() == 5000
