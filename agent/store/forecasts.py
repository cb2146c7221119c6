"""The forecasters' saved state, and a stream's history on a regular grid (for the prediction feature).

``forecast_state`` holds one row per forecast stream: an opaque blob (``agent.prediction.forecast``
encodes it) and the fingerprint of the settings it was learned with. ``step_means`` reads a stream's
history as the mean of each step, from the raw readings and from the rollups they were folded into, so a
forecaster can be rebuilt when its state is missing. Functions take a connection the caller owns.
"""

from __future__ import annotations

import sqlite3
import time
from array import array
from collections.abc import Collection, Iterator

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
    out: dict[str, dict[int, tuple[float, int]]] = {}
    for name, index, total, count in _step_sums(conn, streams, start, end, step):
        out.setdefault(name, {})[index] = (total, count)
    return out


def step_mean_arrays(
    conn: sqlite3.Connection, streams: Collection[str], *, start: float, end: float, step: float
) -> dict[str, tuple[array[int], array[float]]]:
    """Per stream, the step indices in [start, end) that have values and the mean of each, in order: what
    ``step_means`` gives, in two flat arrays (16 bytes a step instead of ~160 in dicts and tuples)."""
    out: dict[str, tuple[array[int], array[float]]] = {}
    for name, index, total, count in _step_sums(conn, streams, start, end, step):
        indices, means = out.get(name) or out.setdefault(name, (array("q"), array("d")))
        indices.append(index)
        means.append(total / count)
    return out


def _step_sums(
    conn: sqlite3.Connection, streams: Collection[str], start: float, end: float, step: float
) -> Iterator[tuple[str, int, float, int]]:
    """(stream, step index, sum, count) of raw readings and rollups together, by stream and index."""
    ids = {
        sid: name
        for sid, name in conn.execute("SELECT id, name FROM streams")
        if name in streams  # streams is small: filtered here rather than with a placeholder list
    }
    if not ids:
        return
    period = 3600 if step % 3600 == 0 else 60
    # The raw readings of the range are read in one pass for every stream (they are keyed by time, not
    # stream, so their stream filter is left to the loop below); the rollups of the streams wanted are
    # read on their key. SQLite adds the two and orders the sums, so no row is held here.
    wanted = ",".join("?" * len(ids))
    query = (
        "SELECT stream_id, idx, sum(total), sum(n) FROM ("  # noqa: S608 - formatted with ?s only
        " SELECT stream_id, CAST(start / ? AS INTEGER) AS idx, sum AS total, count AS n FROM rollups"
        f"  WHERE stream_id IN ({wanted}) AND period = ? AND start >= ? AND start < ?"
        " UNION ALL"
        " SELECT stream_id, CAST(ts / ? AS INTEGER), value, 1 FROM readings WHERE key >= ? AND key < ?"
        ") GROUP BY 1, 2 ORDER BY 1, 2"
    )
    rows = conn.execute(query, (step, *ids, period, start, end, step, time_key(start), time_key(end)))
    for sid, index, total, count in rows:
        name = ids.get(sid)
        if name is not None and count:
            yield name, index, total, count


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
