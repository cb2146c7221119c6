"""The forecasters' saved state, and a stream's history on a regular grid (for the prediction feature).

``forecast_state`` holds one row per forecast stream: an opaque blob (``agent.prediction.forecast``
encodes it) and the fingerprint of the settings it was learned with. ``step_means`` reads a stream's
history as the mean of each step, from the raw readings and from the rollups they were folded into, so a
forecaster can be rebuilt when its state is missing. Functions take a connection the caller owns.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Collection

from agent.store.readings import time_key
from agent.store.sqlite import transaction


def load_states(conn: sqlite3.Connection, fingerprint: str) -> dict[str, bytes]:
    """Saved states learned with ``fingerprint``, by stream name (others are ignored)."""
    return {
        stream: bytes(state)
        for stream, state in conn.execute(
            "SELECT stream, state FROM forecast_state WHERE fingerprint = ?", (fingerprint,)
        )
    }


def save_states(conn: sqlite3.Connection, fingerprint: str, states: dict[str, bytes]) -> None:
    """Keep ``states`` (by stream name) in one transaction, replacing what was saved for those streams."""
    now = time.time()
    with transaction(conn):
        conn.executemany(
            "INSERT INTO forecast_state (stream, fingerprint, state, saved_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (stream) DO UPDATE SET fingerprint = excluded.fingerprint,"
            " state = excluded.state, saved_at = excluded.saved_at",
            [(stream, fingerprint, state, now) for stream, state in states.items()],
        )


def saved_streams(conn: sqlite3.Connection) -> list[tuple[str, str, float]]:
    """(stream, fingerprint, saved at) of every saved state, by stream name."""
    return conn.execute("SELECT stream, fingerprint, saved_at FROM forecast_state ORDER BY stream").fetchall()


def delete_states(conn: sqlite3.Connection, streams: Collection[str]) -> int:
    """Forget the saved states of ``streams`` (in the caller's transaction); return how many there were."""
    return sum(conn.execute("DELETE FROM forecast_state WHERE stream = ?", (s,)).rowcount for s in streams)


def stream_units(conn: sqlite3.Connection) -> dict[str, str]:
    """Every stream's unit, by name."""
    return dict(conn.execute("SELECT name, unit FROM streams"))


def step_means(
    conn: sqlite3.Connection, streams: Collection[str], *, start: float, end: float, step: float
) -> dict[str, dict[int, tuple[float, int]]]:
    """Per stream, per step index (``ts // step``) in [start, end): (sum, count) of its values.

    Raw readings and rollups are disjoint (retention deletes what it rolled up), so both are added. The
    rollups read are the coarsest period that divides ``step`` (hours for an hourly grid), else minutes.
    """
    ids = {
        sid: name
        for sid, name in conn.execute("SELECT id, name FROM streams")
        if name in streams  # streams is small: filtered here rather than with a placeholder list
    }
    out: dict[str, dict[int, tuple[float, int]]] = {name: {} for name in ids.values()}
    if not ids:
        return out
    period = 3600 if step % 3600 == 0 else 60

    def add(sid: int, index: int, total: float, count: int) -> None:
        cells = out[ids[sid]]
        old_total, old_count = cells.get(index, (0.0, 0))
        cells[index] = (old_total + total, old_count + count)

    for sid in ids:
        for index, total, count in conn.execute(
            "SELECT CAST(start / ? AS INTEGER), sum(sum), sum(count) FROM rollups"
            " WHERE stream_id = ? AND period = ? AND start >= ? AND start < ? GROUP BY 1",
            (step, sid, period, start, end),
        ):
            add(sid, index, total, count)
    # One pass over the raw readings of the range for every stream (they are keyed by time, not stream).
    for sid, index, total, count in conn.execute(
        "SELECT stream_id, CAST(ts / ? AS INTEGER), sum(value), count(*) FROM readings"
        " WHERE key >= ? AND key < ? GROUP BY 1, 2",
        (step, time_key(start), time_key(end)),
    ):
        if sid in ids:
            add(sid, index, total, count)
    return out


def latest_of(conn: sqlite3.Connection, names: Collection[str]) -> dict[str, tuple[float, float, str | None]]:
    """The newest reading (ts, value, label) of each stream in ``names`` that has one."""
    out = {}
    for sid, name in conn.execute("SELECT id, name FROM streams"):
        if name in names:
            row = conn.execute(
                "SELECT ts, value, label FROM readings WHERE stream_id = ? ORDER BY key DESC LIMIT 1", (sid,)
            ).fetchone()
            if row is not None:
                out[name] = (row[0], row[1], row[2])
    return out


def saved_state(conn: sqlite3.Connection, stream: str) -> tuple[str, bytes] | None:
    """(fingerprint, state) saved for ``stream``, or None."""
    row = conn.execute("SELECT fingerprint, state FROM forecast_state WHERE stream = ?", (stream,)).fetchone()
    return None if row is None else (row[0], bytes(row[1]))


def readings_of(
    conn: sqlite3.Connection, name: str, *, since: float
) -> list[tuple[float, float, str | None]]:
    """(ts, value, label) of stream ``name``'s readings at or after ``since``, oldest first."""
    row = conn.execute("SELECT id FROM streams WHERE name = ?", (name,)).fetchone()
    if row is None:
        return []
    return conn.execute(
        "SELECT ts, value, label FROM readings WHERE key >= ? AND stream_id = ? ORDER BY key",
        (time_key(since), row[0]),
    ).fetchall()
