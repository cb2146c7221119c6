"""The readings file: devices, streams, raw readings and rollups (WAL, synchronous=NORMAL).

One ``ReadingsStore`` is the file's only writer; the recorder calls it from one thread.

Durability: with WAL and ``synchronous=NORMAL`` SQLite syncs the WAL only at a checkpoint (every ~1000
pages), so a power cut could take everything since the last one, hours of readings. The store bounds
that: the first commit at least ``sync_interval`` after the last synced one runs with
``synchronous=FULL``, and its fsync of the WAL makes every earlier commit durable too. A power cut
therefore costs at most the readings of the last ``sync_interval`` plus one commit interval. Erasures
(forgetting) are always synced: what the owner erased must not come back.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.errors import StoreError
from agent.readings import Reading, StreamInfo
from agent.store.readings_schema import MIGRATIONS
from agent.store.sqlite import open_database, transaction

if TYPE_CHECKING:
    import sqlite_utils

log = logging.getLogger(__name__)

READINGS_FILE = "readings.db"

STREAM_BITS = 20
MAX_STREAMS = (1 << STREAM_BITS) - 1

_INSERT = (
    "INSERT INTO readings (key, value, label) VALUES (?, ?, ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value, label = excluded.label, version = NULL"
)
# Only context readings carry a model version: a second statement for those few keeps the hot insert as is.
_VERSION = "UPDATE readings SET version = ? WHERE key = ?"
_ROLLUP = """
    INSERT INTO rollups (stream_id, period, start, count, sum, min, max)
    SELECT stream_id, :period, CAST(ts / :period AS INTEGER) * :period, count(*), sum(value),
           min(value), max(value)
    FROM readings WHERE key < :cutoff_key GROUP BY stream_id, CAST(ts / :period AS INTEGER)
    ON CONFLICT (stream_id, period, start) DO UPDATE SET
        count = count + excluded.count, sum = sum + excluded.sum,
        min = min(min, excluded.min), max = max(max, excluded.max)
"""


@dataclass(frozen=True, slots=True)
class RetentionResult:
    """What one retention pass rolled up and deleted."""

    raw_rolled_up: int
    minute_rollups_deleted: int
    hour_rollups_deleted: int
    # Of raw_rolled_up, how many went early to keep the file within its size budget.
    raw_over_budget: int = 0


class ReadingsStore:
    """Writes readings in batches and keeps retention; every method runs on the writer's thread."""

    def __init__(
        self,
        path: Path,
        *,
        read_only: bool = False,
        sync_interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.conn = open_database(
            path, synchronous="NORMAL", migrations=MIGRATIONS, label="readings", read_only=read_only
        )
        # None: never synced by the store (SQLite's checkpoints only); 0: every commit is synced.
        self.sync_interval = sync_interval
        self._clock = clock
        self._synced_at = clock()
        self.synced_commits = 0
        self._stream_ids: dict[str, int] = {
            name: sid for sid, name in self.conn.execute("SELECT id, name FROM streams")
        }
        # Readings skipped because their stream is not (or no longer) declared, by stream name.
        self.undeclared: dict[str, int] = {}

    @cached_property
    def db(self) -> sqlite_utils.Database:
        """The file as a sqlite-utils Database, for queries (imported lazily: it pulls in numpy)."""
        import sqlite_utils

        return sqlite_utils.Database(self.conn)

    def close(self) -> None:
        """Close the file; safe to call twice."""
        self.conn.close()

    @contextmanager
    def writing(self, *, immediate: bool = False, sync: bool = False) -> Iterator[sqlite3.Connection]:
        """One write transaction, synced (``synchronous=FULL``) when ``sync`` or when a sync is due."""
        started = self._clock()
        interval = self.sync_interval
        sync = sync or (interval is not None and started - self._synced_at >= interval)
        changes = self.conn.total_changes
        if sync:
            self.conn.execute("PRAGMA synchronous = FULL")
        try:
            with transaction(self.conn, immediate=immediate) as conn:
                yield conn
        finally:
            if sync:
                self.conn.execute("PRAGMA synchronous = NORMAL")
        # A transaction that changed nothing wrote nothing, so it synced nothing either (a retention
        # pass with nothing to roll up): the sync is still due.
        if sync and self.conn.total_changes != changes:
            self._synced_at = started
            self.synced_commits += 1

    # -- writing ---------------------------------------------------------------------------------

    def write_batch(
        self,
        readings: Sequence[Reading],
        declarations: Iterable[tuple[str, StreamInfo]] = (),
    ) -> int:
        """Store ``readings`` (after declaring new streams) in one transaction; return rows written.

        A reading of a stream that was never declared is skipped and counted as not written.
        """
        with self.writing() as conn:
            for source_kind, info in declarations:
                self._declare(source_kind, info)
            ids = self._stream_ids
            try:
                rows = [((round(r[1] * 1000) << 20) | ids[r[0]], r[2], r[3]) for r in readings]
            except KeyError:
                rows = [((round(r[1] * 1000) << 20) | ids[r[0]], r[2], r[3]) for r in readings if r[0] in ids]
                self._count_undeclared(r[0] for r in readings if r[0] not in ids)
            conn.executemany(_INSERT, rows)
            # Hot sources hand over plain 4-tuples: only a longer one can carry a version.
            versions = [
                (r[4], (round(r[1] * 1000) << 20) | ids[r[0]])
                for r in readings
                if len(r) > 4 and r[4] is not None and r[0] in ids
            ]
            if versions:
                conn.executemany(_VERSION, versions)
        return len(rows)

    def _count_undeclared(self, names: Iterable[str]) -> None:
        for name in names:
            if name not in self.undeclared:
                # Once per stream: a forgotten stream's source may go on sending until it restarts.
                log.warning("not recording %s: the stream is not declared (or was forgotten)", name)
            self.undeclared[name] = self.undeclared.get(name, 0) + 1

    def _declare(self, source_kind: str, info: StreamInfo) -> None:
        if info.name in self._stream_ids:
            return
        now = datetime.now(UTC).isoformat(timespec="seconds")
        self.conn.execute(
            "INSERT INTO devices (name, kind, adopted_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
            (info.device, source_kind, now),
        )
        (device_id,) = self.conn.execute("SELECT id FROM devices WHERE name = ?", (info.device,)).fetchone()
        cursor = self.conn.execute(
            "INSERT INTO streams (name, device_id, quantity, unit, kind) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET unit = excluded.unit RETURNING id",
            (info.name, device_id, info.quantity, info.unit, info.kind),
        )
        (stream_id,) = cursor.fetchone()
        self.undeclared.pop(info.name, None)
        if stream_id > MAX_STREAMS:
            raise StoreError(
                f"stream {info.name!r} would be number {stream_id}; the readings file holds {MAX_STREAMS}",
                hint="forget unused devices, or start a new readings file",
            )
        self._stream_ids[info.name] = stream_id

    def forget_device(self, name: str, *, first: Callable[[sqlite3.Connection], None] | None = None) -> int:
        """Erase device ``name`` with its streams, readings and rollups; return readings erased.

        ``first`` runs on the connection inside the same (synced) transaction before the erase, for a
        change that must go with it (the device's adoption); if it raises, nothing is erased.
        Readings of its streams that arrive afterwards count as undeclared and are not written, until
        a source declares the stream again: it then starts afresh under a new id (ids are never reused).
        """
        with self.writing(immediate=True, sync=True) as conn:
            if first is not None:
                first(conn)
            erased = _erase_device_rows(conn, name)
        self._drop_cached(lambda stream: stream.startswith(f"{name}."))
        return erased

    def forget_streams(
        self, names: Iterable[str], *, first: Callable[[sqlite3.Connection], None] | None = None
    ) -> tuple[int, int]:
        """Erase the streams ``names`` with their readings and rollups; return (readings, rollups) erased.

        A device left without streams goes too. Like ``forget_device``, later readings of these streams
        are not written until a source declares them again; ``first`` is as there (the forecasters' state).
        """
        wanted = set(names)
        readings = rollups = 0
        with self.writing(immediate=True, sync=True) as conn:
            if first is not None:
                first(conn)
            ids = [sid for sid, name in conn.execute("SELECT id, name FROM streams") if name in wanted]
            for sid in ids:
                readings += conn.execute("DELETE FROM readings WHERE stream_id = ?", (sid,)).rowcount
                rollups += conn.execute("DELETE FROM rollups WHERE stream_id = ?", (sid,)).rowcount
                conn.execute("DELETE FROM streams WHERE id = ?", (sid,))
            conn.execute(
                "DELETE FROM devices WHERE id NOT IN (SELECT device_id FROM streams)"
                " AND name NOT IN (SELECT name FROM ble_adoptions)"
            )
        self._drop_cached(wanted.__contains__)
        return readings, rollups

    def erase_reading(self, stream: str, ts: float) -> int:
        """Erase the one reading of ``stream`` at ``ts`` (the millisecond it was stored on); 0 or 1."""
        sid = self._stream_ids.get(stream)
        if sid is None:
            return 0
        with self.writing(immediate=True, sync=True) as conn:
            key = (round(ts * 1000) << STREAM_BITS) | sid
            return conn.execute("DELETE FROM readings WHERE key = ?", (key,)).rowcount

    def readings_between(self, streams: Iterable[str], start: float, end: float) -> list[Reading]:
        """Readings of ``streams`` with ``start <= ts < end``, in time order (labelled windows read these)."""
        names = list(streams)
        marks = ", ".join("?" * len(names))
        rows = self.conn.execute(
            f"SELECT s.name, r.ts, r.value, r.label, r.version FROM readings r JOIN streams s ON s.id = r.stream_id"  # noqa: S608, E501 - placeholders only
            f" WHERE s.name IN ({marks}) AND r.key >= ? AND r.key < ? ORDER BY r.key",
            (*names, time_key(start), time_key(end)),
        )
        return [Reading(*row) for row in rows]

    def stream_id(self, name: str) -> int | None:
        """The id stream ``name`` is recorded under now, or None when it is not recorded (a new one after
        a forget and a new declaration: ids are never reused)."""
        return self._stream_ids.get(name)

    def stream_names(self) -> list[str]:
        """Every stream's name, sorted."""
        return [name for (name,) in self.conn.execute("SELECT name FROM streams ORDER BY name")]

    def _drop_cached(self, forgotten: Callable[[str], bool]) -> None:
        for stream in [s for s in self._stream_ids if forgotten(s)]:
            del self._stream_ids[stream]

    def write_health(self, rows: Iterable[dict[str, Any]]) -> None:
        """Upsert each source's health row (read by ``hearth status``)."""
        now = time.time()
        with self.writing() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO source_health (name, kind, state, restarts, accepted, dropped,"
                " last_error, stats, updated_at) VALUES (:name, :kind, :state, :restarts, :accepted,"
                " :dropped, :last_error, :stats, :updated_at)",
                [{**row, "stats": json.dumps(row.get("stats", {})), "updated_at": now} for row in rows],
            )

    # -- retention -------------------------------------------------------------------------------

    def apply_retention(
        self, *, now: float, raw_s: float, minute_s: float, hour_s: float, max_bytes: int | None = None
    ) -> RetentionResult:
        """Roll raw readings older than ``raw_s`` into minute and hour rollups, then delete them.

        With ``max_bytes``, while the file uses more than that, the oldest hour of raw readings goes the
        same way, one hour a transaction: its pages are then reused, so the file stops growing.
        """
        # Cut at an hour boundary so that an hour is rolled up in one pass, not piecemeal.
        cutoff = (now - raw_s) // 3600 * 3600
        with self.writing(immediate=True) as conn:
            raw = _roll_up(conn, cutoff)
            minutes = conn.execute(
                "DELETE FROM rollups WHERE period = 60 AND start < ?", (now - minute_s,)
            ).rowcount
            hours = conn.execute(
                "DELETE FROM rollups WHERE period = 3600 AND start < ?", (now - hour_s,)
            ).rowcount
        early = 0
        while max_bytes is not None and self.used_bytes() > max_bytes:
            (oldest,) = self.conn.execute("SELECT min(key) FROM readings").fetchone()
            if oldest is None:
                break  # the rollups alone are over budget: nothing more to give
            with self.writing(immediate=True) as conn:
                early += _roll_up(conn, ((oldest >> STREAM_BITS) / 1000 // 3600 + 1) * 3600)
        return RetentionResult(raw + early, minutes, hours, early)

    def used_bytes(self) -> int:
        """Bytes of the file's pages in use (free pages are reused before the file grows)."""
        pages = self.conn.execute("PRAGMA page_count").fetchone()[0]
        free = self.conn.execute("PRAGMA freelist_count").fetchone()[0]
        return int((pages - free) * self.conn.execute("PRAGMA page_size").fetchone()[0])

    # -- reading back ----------------------------------------------------------------------------

    def stream_overview(
        self, *, now: float, rate_window_s: float = 60.0, lookback_s: float = 86400.0
    ) -> list[dict[str, Any]]:
        """Every stream with device, unit, last value and time (within ``lookback_s``), readings/s lately."""
        return list(
            self.db.query(
                """
                WITH recent AS (
                    SELECT stream_id, max(key) AS last_key,
                           sum(key >= :rate_key) * 1.0 / :window AS rate
                    FROM readings WHERE key >= :lookback_key GROUP BY stream_id
                )
                SELECT s.name AS stream, d.name AS device, d.kind AS kind, s.unit AS unit,
                       last.ts AS last_ts, last.value AS last_value, last.label AS last_label,
                       coalesce(recent.rate, 0.0) AS rate
                FROM streams s JOIN devices d ON d.id = s.device_id
                LEFT JOIN recent ON recent.stream_id = s.id
                LEFT JOIN readings last ON last.key = recent.last_key
                ORDER BY s.name
                """,
                {
                    "rate_key": time_key(now - rate_window_s),
                    "lookback_key": time_key(now - lookback_s),
                    "window": rate_window_s,
                },
            )
        )

    def source_health(self) -> list[dict[str, Any]]:
        """The health rows the daemon last wrote, one per source."""
        rows = list(self.db.query("SELECT * FROM source_health ORDER BY name"))
        for row in rows:
            row["stats"] = json.loads(row["stats"])
        return rows

    def count_readings(self, stream: str | None = None) -> int:
        """How many raw readings are stored (for one stream, or all)."""
        if stream is None:
            (n,) = self.conn.execute("SELECT count(*) FROM readings").fetchone()
        else:
            (n,) = self.conn.execute(
                "SELECT count(*) FROM readings r JOIN streams s ON s.id = r.stream_id WHERE s.name = ?",
                (stream,),
            ).fetchone()
        return int(n)

    def file_bytes(self) -> int:
        """Bytes on disk of the file and its WAL."""
        total = 0
        for suffix in ("", "-wal", "-shm"):
            candidate = self.path.with_name(self.path.name + suffix)
            if candidate.exists():
                total += candidate.stat().st_size
        return total


def _roll_up(conn: sqlite3.Connection, cutoff: float) -> int:
    """Roll raw readings before ``cutoff`` into minute and hour rollups and delete them; return how many."""
    cutoff_key = time_key(cutoff)
    for period in (60, 3600):
        conn.execute(_ROLLUP, {"period": period, "cutoff_key": cutoff_key})
    return int(conn.execute("DELETE FROM readings WHERE key < ?", (cutoff_key,)).rowcount)


def time_key(ts: float) -> int:
    """The smallest readings key at or after unix time ``ts`` (for range queries on ``key``)."""
    return round(ts * 1000) << STREAM_BITS


def _erase_device_rows(conn: sqlite3.Connection, name: str) -> int:
    """Delete device ``name``'s readings, rollups, streams and row inside the caller's transaction.

    Private: the store's cache of stream ids must forget them too (``ReadingsStore.forget_device``).
    """
    ids = {
        sid
        for (sid,) in conn.execute(
            "SELECT s.id FROM streams s JOIN devices d ON d.id = s.device_id WHERE d.name = ?", (name,)
        )
    }
    erased = 0
    for sid in ids:
        erased += conn.execute("DELETE FROM readings WHERE stream_id = ?", (sid,)).rowcount
        conn.execute("DELETE FROM rollups WHERE stream_id = ?", (sid,))
        conn.execute("DELETE FROM streams WHERE id = ?", (sid,))
    conn.execute("DELETE FROM devices WHERE name = ?", (name,))
    return erased


def open_readings(
    data_dir: Path, *, read_only: bool = False, sync_interval: float | None = None
) -> ReadingsStore:
    """Open the readings file in ``data_dir``."""
    return ReadingsStore(data_dir / READINGS_FILE, read_only=read_only, sync_interval=sync_interval)


def adopted_names(data_dir: Path) -> list[str]:
    """Names of the BLE devices adopted in ``data_dir``'s readings file (none when it cannot be read)."""
    path = data_dir / READINGS_FILE
    if not path.exists():
        return []
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            return [name for (name,) in conn.execute("SELECT name FROM ble_adoptions ORDER BY name")]
        finally:
            conn.close()
    except sqlite3.Error:
        return []  # not readable here (another machine's config, an older file)


def integrity_ok(conn: sqlite3.Connection) -> bool:
    """``PRAGMA integrity_check`` passes."""
    return bool(conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok")
