"""The ledger file: what must survive a power cut (WAL, synchronous=FULL).

Grants, receipts, the audit log, the outbox and config history live here, each added by a migration.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from agent.store.sqlite import open_database

LEDGER_FILE = "ledger.db"

MIGRATIONS: list[str] = [
    # 1: key/value facts about the hub, and the history of applied configs.
    """
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE config_history (
        version INTEGER PRIMARY KEY,
        applied_at REAL NOT NULL,
        sha256 TEXT NOT NULL,
        status TEXT NOT NULL,
        document TEXT NOT NULL
    );
    """,
    # 2: every fleet document the hub received and what became of it (applied, rejected, rolled back).
    """
    CREATE TABLE fleet_audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        sha256 TEXT NOT NULL,
        version INTEGER,
        outcome TEXT NOT NULL,
        reason TEXT NOT NULL
    );
    CREATE INDEX fleet_audit_sha256 ON fleet_audit (sha256);
    """,
]


def open_ledger(data_dir: Path, *, read_only: bool = False) -> sqlite3.Connection:
    """Open (creating and migrating) the ledger file in ``data_dir``."""
    return open_database(
        data_dir / LEDGER_FILE,
        synchronous="FULL",
        migrations=MIGRATIONS,
        label="ledger",
        read_only=read_only,
    )
