"""What the pages read from the readings file, over the dashboard's own read-only connection.

Every query stays inside a recent time range on the readings key (time first), so a page costs the
same on a hub that has kept a year of data as on a new one.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field

from agent.sources.ble.adoption import AdoptionStore
from agent.store import queries


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
    rows = {
        meta.id: StreamRow(meta.name, meta.device, meta.device_kind, meta.quantity, meta.unit, meta.kind)
        for meta in queries.stream_catalogue(conn, only=only)
    }
    if not rows:
        return []
    start = now - window_s
    for sid, latest in queries.latest_values(conn, since=start).items():
        row = rows.get(sid)
        if row is not None:
            row.last_ts, row.last_value, row.last_label = latest
    bucket_s = window_s / buckets
    points: dict[int, list[float]] = defaultdict(list)
    last_bucket: dict[int, float] = {}
    for sid, bucket, mean in queries.bucket_means(conn, since=start, bucket_s=bucket_s):
        if sid in rows:
            points[sid].append(float(f"{mean:.4g}"))  # a sparkline is 28 px tall: 4 digits are plenty
            last_bucket[sid] = start + bucket * bucket_s
    for sid, row in rows.items():
        row.bucket_s = bucket_s
        row.series = points.get(sid, [])
        row.last_bucket = last_bucket.get(sid)
    return list(rows.values())


@dataclass(frozen=True, slots=True)
class AdoptedRow:
    """An adopted BLE device as the pages show it: never its bindkey, only whether it has one."""

    address: str
    name: str
    encrypted: bool
    adopted_at: str
    streams: tuple[str, ...]


def adopted_ble(conn: sqlite3.Connection) -> list[AdoptedRow]:
    """Every adopted BLE device with the streams recorded for it so far, by name."""
    streams = queries.streams_by_device(conn)
    return [
        AdoptedRow(address, name, bool(encrypted), adopted_at, tuple(streams.get(name, ())))
        for address, name, encrypted, adopted_at in AdoptionStore(conn).listing()
    ]


@dataclass(frozen=True, slots=True)
class Change:
    """A context strand switching to ``label`` at ``ts`` with the model's ``confidence``."""

    ts: float
    label: str
    confidence: float
    version: int | None = None  # the model version that said so (None: stored before versions were)


@dataclass(slots=True)
class Strand:
    """One context strand over a window: the label in effect at its start, and its changes inside it."""

    name: str
    before: Change | None = None
    changes: list[Change] = field(default_factory=list)


def context_strands(
    conn: sqlite3.Connection, *, now: float, window_s: float, lookback_s: float, names: tuple[str, ...] = ()
) -> list[Strand]:
    """Each context stream (and each of ``names``) with its changes since ``now - window_s``.

    The label in effect when the window opens is looked for only ``lookback_s`` further back, so the
    query stays a bounded range of the readings key.
    """
    strands = {name: Strand(name) for name in names}
    ids = queries.context_streams(conn)
    for name in ids.values():
        strands.setdefault(name, Strand(name))
    if ids:
        start = now - window_s
        for sid, ts, value, label, version in queries.readings_since(conn, ids, since=start - lookback_s):
            strand = strands[ids[sid]]
            change = Change(ts, label or "", value, version)
            if ts < start:
                strand.before = change
            else:
                strand.changes.append(change)
    return sorted(strands.values(), key=lambda s: s.name)
