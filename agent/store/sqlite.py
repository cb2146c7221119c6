"""Opening SQLite files the agent's way: private permissions, WAL, and forward-only migrations."""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from agent.errors import (
    DiskFullError,
    ReadOnlyDataError,
    SchemaVersionError,
    StoreError,
    UnwritableDataError,
)

log = logging.getLogger(__name__)

Synchronous = Literal["NORMAL", "FULL"]


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` (and parents) readable by the owner only, durably: a power cut keeps it."""
    if path.is_dir():
        return
    missing = [p for p in (path, *path.parents) if not p.exists()]
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        if exc.errno == errno.EROFS:
            raise ReadOnlyDataError(read_only_problem(path)) from exc
        raise StoreError(
            f"cannot create data folder {path}: {exc.strerror}",
            hint="set hub.data_dir to a folder the agent's user may write",
        ) from exc
    # A new directory's name is on the disk only once its parent is synced; without this a power cut
    # soon after the first start would take the data folder, and every file in it, away.
    for made in reversed(missing):
        try:
            sync_dir(made.parent)
        except OSError as exc:  # a filesystem that cannot sync folders: the folder is there all the same
            log.warning("cannot sync %s: %s", made.parent, exc.strerror)


def sync_dir(path: Path) -> None:
    """fsync the directory ``path``, so that names created, renamed or removed in it survive a power cut."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def open_database(
    path: Path,
    *,
    synchronous: Synchronous,
    migrations: Sequence[str],
    label: str,
    read_only: bool = False,
) -> sqlite3.Connection:
    """Open (creating 0600 if missing) the SQLite file at ``path`` and migrate it to the newest schema.

    ``migrations[i]`` is the SQL script that takes the schema from version ``i`` to ``i + 1``; the
    version is kept in ``PRAGMA user_version``.
    """
    if read_only:
        if not path.exists():
            raise StoreError(f"no {label} file at {path}", hint="has the agent run with this config?")
        uri = f"{path.resolve().as_uri()}?mode=ro"
        conn = _connect(uri, path, uri=True)
    else:
        ensure_private_dir(path.parent)
        conn = _connect(str(path), path, uri=False)
    try:
        if not read_only:
            _make_private(path)
        conn.execute("PRAGMA busy_timeout = 5000")
        if not read_only:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {synchronous}")
        _migrate(conn, path, migrations, label, read_only=read_only)
    except sqlite3.DatabaseError as exc:
        conn.close()
        if (refused := refusal(exc, path.parent)) is not None:
            raise refused from exc
        raise StoreError(
            f"{path} is not a usable {label} file: {exc}",
            hint="restore it from a passport export or move it aside to start afresh",
        ) from exc
    except BaseException:
        conn.close()
        raise
    return conn


# SQLite's primary result codes for a disk that refuses writes (sqlite3.h).
_SQLITE_READONLY = 8
_SQLITE_IOERR = 10
_SQLITE_FULL = 13


def storage_problem(exc: sqlite3.Error, folder: Path | None = None) -> str | None:
    """What is wrong with the disk when ``exc`` is a refused write (full, read-only, failing), else None.

    SQLite reports a read-only remount as an I/O error; ``folder`` (the data folder) tells them apart.
    """
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    if code == _SQLITE_FULL or (code == _SQLITE_IOERR and folder is not None and disk_full(folder)):
        return "the disk is full"
    if code in (_SQLITE_READONLY, _SQLITE_IOERR) and folder is not None and not os.access(folder, os.W_OK):
        return read_only_problem(folder)
    if code == _SQLITE_READONLY:
        return f"a data file is read-only ({exc})"
    if code == _SQLITE_IOERR:
        return f"the disk fails to write ({exc})"
    return None


class Refusals:
    """Why a feature's writes are refused now (a full or read-only disk, a file locked past its timeout),
    so that it is said once when it begins or changes and once when it ends, not at every retry."""

    def __init__(self, folder: Path | None, busy: str) -> None:
        self.folder = folder
        self.busy = busy  # the words for a locked file: "the ledger is busy"
        self.problem: str | None = None

    def refused(self, exc: sqlite3.OperationalError) -> tuple[str, bool]:
        """Note that ``exc`` refused a write: the problem it names, and whether that is new (to be said)."""
        problem = storage_problem(exc, self.folder) or f"{self.busy} ({exc})"
        return problem, self.note(problem)

    def note(self, problem: str | None) -> bool:
        """Note ``problem`` as the reason now (None: a failure of another kind); True when it is new."""
        new = problem is not None and problem != self.problem
        self.problem = problem
        return new

    def cleared(self) -> bool:
        """Note that a write went through; True when that ends a refusal (to be said)."""
        ended = self.problem is not None
        self.problem = None
        return ended


def refusal(exc: sqlite3.Error, folder: Path) -> UnwritableDataError | None:
    """The error to raise when ``exc`` is the data folder's disk refusing writes (read-only, full)."""
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    if code in (_SQLITE_READONLY, _SQLITE_IOERR) and not os.access(folder, os.W_OK):
        return ReadOnlyDataError(read_only_problem(folder))
    if code == _SQLITE_FULL or (code == _SQLITE_IOERR and disk_full(folder)):
        return disk_full_error(folder)
    return None


# Less free space than this on the data folder's disk is a full disk: SQLite reports a full disk as an I/O
# error when it cannot grow a file's shared-memory index, and a batch or a migration needs more anyway.
FULL_BELOW = 1 << 20


def disk_full(folder: Path) -> bool:
    """True when the disk holding ``folder`` (or its nearest existing parent) has no room left to write."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        stat = os.statvfs(folder)
    except OSError:
        return False
    return stat.f_bavail * stat.f_frsize < FULL_BELOW


def disk_full_problem(folder: Path) -> str:
    """What to tell the owner when the disk that holds the data folder ``folder`` is full."""
    return f"the disk of the data folder {folder} is full"


def ensure_room(folder: Path) -> None:
    """Raise ``DiskFullError`` when the disk holding the data folder ``folder`` is full."""
    if disk_full(folder):
        raise disk_full_error(folder)


def disk_full_error(folder: Path) -> DiskFullError:
    """The error for a data folder ``folder`` whose disk is full."""
    return DiskFullError(
        disk_full_problem(folder),
        hint="free space on that disk (or move hub.data_dir to a bigger one); nothing on file is lost",
    )


def read_only_problem(folder: Path) -> str:
    """What to tell the owner when the data folder ``folder`` is on a read-only mount."""
    return (
        f"the data folder {folder} is read-only (a disk the kernel remounted read-only after write"
        " errors is failing: replace the SD card)"
    )


@contextmanager
def transaction(conn: sqlite3.Connection, *, immediate: bool = False) -> Iterator[sqlite3.Connection]:
    """One explicit transaction on an autocommit connection: COMMIT on success, ROLLBACK on error."""
    conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextmanager
def read_snapshot(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One read transaction on an autocommit connection: every query inside sees one state of the file."""
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        conn.execute("ROLLBACK")


def _connect(target: str, path: Path, *, uri: bool) -> sqlite3.Connection:
    try:
        # The agent confines each connection to one thread itself (one writer thread per file).
        return sqlite3.connect(
            target, uri=uri, isolation_level=None, check_same_thread=False, cached_statements=64
        )
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open {path}: {exc}") from exc


def _make_private(path: Path) -> None:
    """Make the file SQLite just opened 0600, before it creates the -wal and -shm (which copy its mode).

    Never ``os.open``/``os.close`` a SQLite file outside SQLite: closing *any* descriptor of a file
    drops every POSIX lock this process holds on it, so another process would take this one's
    connections for gone, checkpoint and delete the WAL under them, and corrupt the file. Until this
    chmod the file is only reachable through the data folder, which is 0700.
    """
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)


def _migrate(
    conn: sqlite3.Connection, path: Path, migrations: Sequence[str], label: str, *, read_only: bool
) -> None:
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    newest = len(migrations)
    if version > newest:
        raise SchemaVersionError(
            f"{path} has {label} schema version {version}; this release understands up to {newest}",
            hint="it was written by a newer Hearth: upgrade Hearth to read it",
        )
    if version == newest:
        return
    if read_only:
        raise StoreError(
            f"{path} has {label} schema version {version}; version {newest} is needed",
            hint="start the agent once to upgrade the file",
        )
    for target in range(version + 1, newest + 1):
        log.info("migrating %s file %s to schema version %d", label, path, target)
        with transaction(conn, immediate=True):
            for statement in _statements(migrations[target - 1]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {target}")


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (executescript would commit on its own)."""
    statements: list[str] = []
    current = ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                statements.append(current.strip())
            current = ""
    if current.strip():
        raise ValueError(f"incomplete SQL statement in migration: {current.strip()[:60]}")
    return statements
