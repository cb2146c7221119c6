"""Named reads of the readings file, for every layer that reads it (the summariser, pages, bridges, demos).

The readings tables' SQL lives here and in ``agent.store.readings`` only, so a schema change touches the
store alone. Each function takes a connection the caller owns (the writer's, or a read-only one) and
runs on the caller's thread. Time ranges are read on the ``key`` column (time first) wherever the
question allows, so a query costs the same on a hub that kept a year of data as on a new one.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Collection
from typing import Literal, NamedTuple

from agent.store.readings import STREAM_BITS, time_key


class StreamRef(NamedTuple):
    """A stream as the summariser needs it: id, name and unit."""

    id: int
    name: str
    unit: str


class StreamMeta(NamedTuple):
    """A stream with what describes it: its device, quantity, unit and kind."""

    id: int
    name: str
    device: str
    device_kind: str
    quantity: str
    unit: str
    kind: str


class Latest(NamedTuple):
    """A stream's newest reading in a range: time, value, label."""

    ts: float
    value: float
    label: str | None


def streams(conn: sqlite3.Connection) -> list[StreamRef]:
    """Every stream, in id order (the order they were first declared)."""
    return [StreamRef(*row) for row in conn.execute("SELECT id, name, unit FROM streams ORDER BY id")]


def stream_named(conn: sqlite3.Connection, name: str) -> StreamRef | None:
    """The stream called ``name``, or None when there is none."""
    row = conn.execute("SELECT id, name, unit FROM streams WHERE name = ?", (name,)).fetchone()
    return StreamRef(*row) if row else None


def stream_names(conn: sqlite3.Connection) -> list[str]:
    """Every stream's name, sorted."""
    return [name for (name,) in conn.execute("SELECT name FROM streams ORDER BY name")]


def stream_catalogue(
    conn: sqlite3.Connection, *, only: str | None = None, order: Literal["name", "id"] = "name"
) -> list[StreamMeta]:
    """Every stream (or just the one named ``only``) with its device, sorted by name or by id."""
    sql = (
        "SELECT s.id, s.name, d.name, d.kind, s.quantity, s.unit, s.kind "
        "FROM streams s JOIN devices d ON d.id = s.device_id"
    )
    params: tuple[str, ...] = ()
    if only is not None:
        sql += " WHERE s.name = ?"
        params = (only,)
    sql += " ORDER BY s.id" if order == "id" else " ORDER BY s.name"
    return [StreamMeta(*row) for row in conn.execute(sql, params)]


def streams_by_device(conn: sqlite3.Connection) -> dict[str, list[str]]:
    """Each device's stream names, sorted."""
    found: dict[str, list[str]] = {}
    for device, stream in conn.execute(
        "SELECT d.name, s.name FROM streams s JOIN devices d ON d.id = s.device_id ORDER BY s.name"
    ):
        found.setdefault(device, []).append(stream)
    return found


def device_exists(conn: sqlite3.Connection, name: str) -> bool:
    """A device called ``name`` has been recorded (and not forgotten)."""
    return conn.execute("SELECT 1 FROM devices WHERE name = ?", (name,)).fetchone() is not None


def window_aggregates(
    conn: sqlite3.Connection, stream_id: int, *, start: float, end: float, window_s: float
) -> list[tuple[int, int, float, float, float]]:
    """Per window of ``window_s`` in [start, end): (window index ``ts // window_s``, count, mean, min, max).

    Windows without readings are absent; the list is in window order.
    """
    low, high = _key_span(start, end)
    return conn.execute(
        "SELECT CAST(ts / :w AS INTEGER) AS k, count(*), avg(value), min(value), max(value)"
        " FROM readings WHERE key >= :low AND key < :high AND stream_id = :sid AND ts >= :start AND ts < :end"
        " GROUP BY k ORDER BY k",
        {"w": window_s, "sid": stream_id, "start": start, "end": end, "low": low, "high": high},
    ).fetchall()


def rows_between(
    conn: sqlite3.Connection, stream_id: int, *, start: float, end: float, limit: int
) -> list[tuple[float, float, str | None]]:
    """The first ``limit`` readings (ts, value, label) of a stream in [start, end), oldest first."""
    low, high = _key_span(start, end)
    return conn.execute(
        "SELECT ts, value, label FROM readings"
        " WHERE key >= ? AND key < ? AND stream_id = ? AND ts >= ? AND ts < ? ORDER BY key LIMIT ?",
        (low, high, stream_id, start, end, limit),
    ).fetchall()


def _key_span(start: float, end: float) -> tuple[int, int]:
    """Keys covering every reading with ``start <= ts < end`` (a little more at the edges).

    ``ts`` and ``stream_id`` are generated from ``key``, and SQLite cannot turn a condition on them into a
    range of the primary key: without this span a query reads the whole table.
    """
    low = math.floor(start * 1000) << STREAM_BITS if math.isfinite(start) else -(2**63)
    high = math.ceil(end * 1000) << STREAM_BITS if math.isfinite(end) else 2**63 - 1
    return max(low, -(2**63)), min(high, 2**63 - 1)


def window_values(
    conn: sqlite3.Connection, stream_id: int, *, start: float, end: float, window_s: float
) -> dict[int, list[float]]:
    """A stream's values in [start, end) by window index ``ts // window_s`` (windows without any absent).

    Reads the same readings as ``window_aggregates`` (the key span, then the exact bounds).
    """
    low, high = _key_span(start, end)
    found: dict[int, list[float]] = {}
    for ts, value in conn.execute(
        "SELECT ts, value FROM readings"
        " WHERE key >= ? AND key < ? AND stream_id = ? AND ts >= ? AND ts < ? ORDER BY key",
        (low, high, stream_id, start, end),
    ):
        found.setdefault(int(ts // window_s), []).append(value)
    return found


def latest_values(conn: sqlite3.Connection, *, since: float) -> dict[int, Latest]:
    """Each stream's newest reading at or after ``since``, by stream id (streams without one are absent)."""
    # SQLite returns the other columns of the row that holds max(key): the newest reading.
    return {
        sid: Latest(ts, value, label)
        for sid, _, value, label, ts in conn.execute(
            "SELECT stream_id, max(key), value, label, ts FROM readings WHERE key >= ? GROUP BY stream_id",
            (time_key(since),),
        )
    }


def bucket_means(conn: sqlite3.Connection, *, since: float, bucket_s: float) -> list[tuple[int, int, float]]:
    """(stream id, bucket index, mean) of the readings since ``since`` in buckets of ``bucket_s``.

    Bucket ``i`` starts at ``since + i * bucket_s``; empty buckets are absent; sorted by stream, bucket.
    """
    return conn.execute(
        "SELECT stream_id, CAST((ts - ?) / ? AS INTEGER) AS b, avg(value) FROM readings "
        "WHERE key >= ? GROUP BY stream_id, b ORDER BY stream_id, b",
        (since, bucket_s, time_key(since)),
    ).fetchall()


def context_streams(conn: sqlite3.Connection) -> dict[int, str]:
    """The context streams (what the on-device models infer), name by id."""
    return dict(conn.execute("SELECT id, name FROM streams WHERE kind = 'context'"))


def readings_since(
    conn: sqlite3.Connection, stream_ids: Collection[int], *, since: float
) -> list[tuple[int, float, float, str | None, int | None]]:
    """(stream id, ts, value, label, model version) of the given streams' readings at or after ``since``,
    oldest first."""
    if not stream_ids:
        return []
    marks = ",".join("?" * len(stream_ids))
    return conn.execute(
        f"SELECT stream_id, ts, value, label, version FROM readings WHERE key >= ? AND stream_id IN ({marks})"  # noqa: S608 - placeholders only
        " ORDER BY key",
        (time_key(since), *stream_ids),
    ).fetchall()


def context_log(conn: sqlite3.Connection) -> list[tuple[str, float, float, str | None]]:
    """Every stored reading of a context stream as (stream, ts, confidence, label), oldest first."""
    return conn.execute(
        "SELECT s.name, r.ts, r.value, r.label FROM readings r "
        "JOIN streams s ON s.id = r.stream_id WHERE s.kind = 'context' ORDER BY r.ts"
    ).fetchall()


def reading_counts(conn: sqlite3.Connection) -> list[tuple[str, int]]:
    """Every stream with how many raw readings of it are stored, by name."""
    return conn.execute(
        "SELECT s.name, count(r.ts) FROM streams s"
        " LEFT JOIN readings r ON r.stream_id = s.id GROUP BY s.name ORDER BY s.name"
    ).fetchall()


class ExportFile(NamedTuple):
    """One file of a passport archive: its name, format (``jsonl`` or ``csv``), rows and their query."""

    name: str
    fmt: Literal["jsonl", "csv"]
    rows: int
    sql: str


_EXPORTED_TABLES = ("devices", "streams", "source_health")
# A LEFT JOIN, so that a reading whose stream was removed is exported too (as stream id only).
_READINGS_CSV = """
    SELECT datetime(r.ts, 'unixepoch', 'subsec') AS time, r.ts AS ts, coalesce(s.name, '#' || r.stream_id)
           AS stream, r.value, r.label, s.unit, r.version AS model_version
    FROM readings r LEFT JOIN streams s ON s.id = r.stream_id ORDER BY r.stream_id, r.ts
"""


def export_files(conn: sqlite3.Connection) -> list[ExportFile]:
    """What a passport archive holds of the readings file: tables as JSON Lines, readings and rollups as CSV.

    Read the counts and then the rows inside one ``read_snapshot`` so that they agree.
    """
    files = [
        ExportFile(f"readings/{table}.jsonl", "jsonl", count_rows(conn, table), f"SELECT * FROM {table}")  # noqa: S608 - fixed names
        for table in _EXPORTED_TABLES
    ]
    files.append(ExportFile("readings/readings.csv", "csv", count_rows(conn, "readings"), _READINGS_CSV))
    files.append(
        ExportFile(
            "readings/rollups.csv",
            "csv",
            count_rows(conn, "rollups"),
            "SELECT * FROM rollup_log ORDER BY stream, period, start",
        )
    )
    return files


def count_rows(conn: sqlite3.Connection, table: str) -> int:
    """How many rows ``table`` holds (a table name from this module, never from input)."""
    return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608 - fixed names
