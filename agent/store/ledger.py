"""The ledger file: what must survive a power cut (WAL, synchronous=FULL).

Grants, receipts, the audit log, the outbox, config history, the owner's intents, labels (with the windows
they taught) and adapted model versions live here, each added by a migration.
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
    # 2: consent and upstream sync: grants, revocations, receipts, the hash-chained audit log, the
    # outbox with its set-aside messages, the per-hub sequence counter, and the summariser's
    # watermarks (kept here, next to the outbox rows they wrote, so one transaction covers both).
    """
    CREATE TABLE grants (
        id TEXT PRIMARY KEY,
        recipient TEXT NOT NULL,
        purpose TEXT NOT NULL,
        strands TEXT NOT NULL,
        granularity TEXT NOT NULL,
        precision INTEGER,
        created_at REAL NOT NULL,
        expires_at REAL,
        ended_at REAL
    );
    CREATE TABLE revocations (
        grant_id TEXT PRIMARY KEY REFERENCES grants(id),
        revoked_at REAL NOT NULL,
        purged INTEGER NOT NULL
    );
    CREATE TABLE receipts (
        id TEXT PRIMARY KEY,
        grant_id TEXT NOT NULL REFERENCES grants(id),
        issued_at REAL NOT NULL,
        document TEXT NOT NULL
    );
    CREATE TABLE audit_log (
        seq INTEGER PRIMARY KEY,
        ts REAL NOT NULL,
        kind TEXT NOT NULL,
        detail TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        seq INTEGER NOT NULL UNIQUE,
        grant_id TEXT,
        recipient TEXT NOT NULL,
        stream TEXT NOT NULL,
        kind TEXT NOT NULL,
        topic TEXT NOT NULL,
        payload BLOB NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL
    );
    CREATE INDEX outbox_by_grant ON outbox (grant_id);
    CREATE INDEX outbox_by_expiry ON outbox (expires_at);
    CREATE TABLE outbox_set_aside (
        seq INTEGER PRIMARY KEY,
        grant_id TEXT,
        recipient TEXT NOT NULL,
        stream TEXT NOT NULL,
        kind TEXT NOT NULL,
        topic TEXT NOT NULL,
        payload BLOB NOT NULL,
        set_aside_at REAL NOT NULL,
        reason TEXT NOT NULL
    );
    CREATE TABLE counters (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    );
    CREATE TABLE summary_marks (
        grant_id TEXT NOT NULL,
        stream TEXT NOT NULL,
        until REAL NOT NULL,
        state TEXT,
        PRIMARY KEY (grant_id, stream)
    );
    CREATE TABLE sync_state (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    # 3: every fleet document the hub received and what became of it (applied, rejected, rolled back).
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
    # 4: how many times the agent started with a fleet config it has not confirmed yet (crash loops).
    """
    ALTER TABLE config_history ADD COLUMN starts INTEGER NOT NULL DEFAULT 0;
    """,
    # 5: the owner's intents (agent.intents): what each published and where, under which random client
    # id; the offers that came back (validated data, never run), the owner's answers, and what was dropped.
    """
    CREATE TABLE intents (
        id TEXT PRIMARY KEY,
        category TEXT NOT NULL,
        text TEXT NOT NULL,
        via TEXT NOT NULL,
        broker TEXT NOT NULL,
        client_id TEXT NOT NULL UNIQUE,
        topic TEXT NOT NULL,
        reply_topic TEXT NOT NULL,
        payload BLOB NOT NULL,
        grants TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        published_at REAL,
        ended_at REAL,
        end_reason TEXT,
        cleared_at REAL,
        dropped_size INTEGER NOT NULL DEFAULT 0,
        dropped_rate INTEGER NOT NULL DEFAULT 0,
        dropped_invalid INTEGER NOT NULL DEFAULT 0,
        dropped_full INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE intent_offers (
        intent_id TEXT NOT NULL REFERENCES intents(id),
        number INTEGER NOT NULL,
        received_at REAL NOT NULL,
        offer TEXT NOT NULL,
        answer TEXT,
        answered_at REAL,
        answer_sent_at REAL,
        PRIMARY KEY (intent_id, number)
    );
    """,
    # 6: the owner's labels (a span of time on a model is "class X") and the versions adapted from them,
    # with the one each model runs (0: as shipped). SQL on these lives in agent/learning.
    """
    CREATE TABLE labels (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        model TEXT NOT NULL,
        start_ts REAL NOT NULL,
        end_ts REAL NOT NULL,
        class TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX labels_by_model ON labels (model, start_ts);
    CREATE TABLE model_versions (
        model TEXT NOT NULL,
        version INTEGER NOT NULL,
        created_at REAL NOT NULL,
        kept INTEGER NOT NULL,
        card TEXT NOT NULL,
        head BLOB,
        PRIMARY KEY (model, version)
    );
    CREATE TABLE model_running (
        model TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        changed_at REAL NOT NULL
    );
    """,
    # 7: differential privacy: a grant's noise policy (JSON, agent.consent.dp), and what each recipient's
    # noisy releases spent per budget period (one row per recipient, unit and period; agent.consent.budget).
    """
    ALTER TABLE grants ADD COLUMN dp TEXT;
    CREATE TABLE dp_budget (
        recipient TEXT NOT NULL,
        unit TEXT NOT NULL,
        period_start REAL NOT NULL,
        period_s REAL NOT NULL,
        spent REAL NOT NULL,
        releases INTEGER NOT NULL,
        refused INTEGER NOT NULL,
        PRIMARY KEY (recipient, unit, period_start)
    );
    """,
    # 8: the windows each label taught, kept beside it so the readings file's retention cannot take them
    # (float32 little-endian, count x window x inputs; agent.learning.examples).
    """
    CREATE TABLE label_examples (
        label_id INTEGER PRIMARY KEY,
        model TEXT NOT NULL,
        streams TEXT NOT NULL,
        rate REAL NOT NULL,
        hop INTEGER NOT NULL,
        window INTEGER NOT NULL,
        inputs INTEGER NOT NULL,
        count INTEGER NOT NULL,
        starts TEXT NOT NULL,
        data BLOB NOT NULL
    );
    CREATE INDEX label_examples_by_model ON label_examples (model);
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
