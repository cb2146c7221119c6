"""What the pages read from the readings file, over the dashboard's own read-only connection.

Every query stays inside a recent time range on the readings key (time first), so a page costs the
same on a hub that has kept a year of data as on a new one.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field

from agent.store.readings import time_key


@dataclass(slots=True)
class StreamRow:
    """A stream as the pages show it: what it is, its newest value lately, and a sparkline's points."""

    name: str
    device: str
    device_kind: str
    quantity: str
    unit: str
    kind: str
    last_ts: float | None = None
    last_value: float | None = None
    last_label: str | None = None
    series: list[float] = field(default_factory=list)
    bucket_s: float = 0.0
    last_bucket: float | None = None  # unix start of the newest bucket in ``series``


def streams(
    conn: sqlite3.Connection, *, now: float, window_s: float, buckets: int = 60, only: str | None = None
) -> list[StreamRow]:
    """Every stream (or just ``only``) with its newest value and ``buckets`` means over ``window_s``."""
    sql = (
        "SELECT s.id, s.name, d.name, d.kind, s.quantity, s.unit, s.kind "
        "FROM streams s JOIN devices d ON d.id = s.device_id"
    )
    params: tuple[str, ...] = ()
    if only is not None:
        sql += " WHERE s.name = ?"
        params = (only,)
    rows = {
        sid: StreamRow(name, device, dkind, quantity, unit, kind)
        for sid, name, device, dkind, quantity, unit, kind in conn.execute(sql + " ORDER BY s.name", params)
    }
    if not rows:
        return []
    start = now - window_s
    key = time_key(start)
    # SQLite returns the other columns of the row that holds max(key): the newest reading.
    for sid, _, value, label, ts in conn.execute(
        "SELECT stream_id, max(key), value, label, ts FROM readings WHERE key >= ? GROUP BY stream_id", (key,)
    ):
        row = rows.get(sid)
        if row is not None:
            row.last_ts, row.last_value, row.last_label = ts, value, label
    bucket_s = window_s / buckets
    points: dict[int, list[float]] = defaultdict(list)
    last_bucket: dict[int, float] = {}
    for sid, bucket, mean in conn.execute(
        "SELECT stream_id, CAST((ts - ?) / ? AS INTEGER) AS b, avg(value) FROM readings "
        "WHERE key >= ? GROUP BY stream_id, b ORDER BY stream_id, b",
        (start, bucket_s, key),
    ):
        if sid in rows:
            points[sid].append(float(f"{mean:.4g}"))  # a sparkline is 28 px tall: 4 digits are plenty
            last_bucket[sid] = start + bucket * bucket_s
    for sid, row in rows.items():
        row.bucket_s = bucket_s
        row.series = points.get(sid, [])
        row.last_bucket = last_bucket.get(sid)
    return list(rows.values())
