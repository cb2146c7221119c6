"""Adapted model versions in the ledger: each with its card and head, and which one each model runs.

Version 0 is the model as shipped; adaptations count up from 1 and are never renumbered. Only a kept
adaptation is a version: one that changed nothing the hub runs is not recorded (the owner is told why when it
happens), so the list shows what ran. Files written before that may also hold rejected attempts (``kept``
0), which are listed as such. SQL on ``model_versions`` and ``model_running`` lives here and nowhere else.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, NamedTuple

from agent.learning.head import Head
from agent.store.sqlite import transaction

SHIPPED = 0


class Version(NamedTuple):
    """One adapted version: its number, when, whether it was kept (older files), and its card."""

    version: int
    created_at: float
    kept: bool
    card: dict[str, Any]


def record(conn: sqlite3.Connection, model: str, card: dict[str, Any], head: Head, *, now: float) -> int:
    """Store a kept adaptation as ``model``'s next version, and run it. Returns its number."""
    with transaction(conn, immediate=True):
        (last,) = conn.execute(
            "SELECT coalesce(max(version), 0) FROM model_versions WHERE model = ?", (model,)
        ).fetchone()
        version = int(last) + 1
        conn.execute(
            "INSERT INTO model_versions (model, version, created_at, kept, card, head)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (model, version, now, 1, json.dumps(card, sort_keys=True), head.to_bytes()),
        )
        _run(conn, model, version, now)
    return version


def reset(conn: sqlite3.Connection, model: str, *, now: float) -> int:
    """Run ``model`` as shipped again; returns the version it ran before."""
    with transaction(conn, immediate=True):
        before = _running(conn, model)
        _run(conn, model, SHIPPED, now)
    return before


def models(conn: sqlite3.Connection) -> list[str]:
    """Every model with an adaptation attempt or a running version on record."""
    rows = conn.execute("SELECT model FROM model_versions UNION SELECT model FROM model_running ORDER BY 1")
    return [m for (m,) in rows]


def erase(conn: sqlite3.Connection, model: str, *, now: float) -> int:
    """Delete every adaptation of ``model`` and run it as shipped (in the caller's transaction); return
    how many attempts there were. Numbering starts again at 1: nothing of the erased ones is left."""
    erased = conn.execute("DELETE FROM model_versions WHERE model = ?", (model,)).rowcount
    _run(conn, model, SHIPPED, now)
    return erased


def running(conn: sqlite3.Connection, model: str) -> tuple[int, Head | None, dict[str, Any] | None]:
    """The version ``model`` runs, its head and card (None, None for the shipped model)."""
    version = _running(conn, model)
    if version == SHIPPED:
        return SHIPPED, None, None
    row = conn.execute(
        "SELECT head, card FROM model_versions WHERE model = ? AND version = ?", (model, version)
    ).fetchone()
    return version, Head.from_bytes(row[0]), json.loads(row[1])


def history(conn: sqlite3.Connection, model: str) -> list[Version]:
    """Every adapted version of ``model`` (and rejected attempts older releases recorded), oldest first."""
    rows = conn.execute(
        "SELECT version, created_at, kept, card FROM model_versions WHERE model = ? ORDER BY version",
        (model,),
    )
    return [Version(v, at, bool(kept), json.loads(card)) for v, at, kept, card in rows]


def _running(conn: sqlite3.Connection, model: str) -> int:
    row = conn.execute("SELECT version FROM model_running WHERE model = ?", (model,)).fetchone()
    return SHIPPED if row is None else int(row[0])


def _run(conn: sqlite3.Connection, model: str, version: int, now: float) -> None:
    conn.execute(
        "INSERT INTO model_running (model, version, changed_at) VALUES (?, ?, ?)"
        " ON CONFLICT (model) DO UPDATE SET version = excluded.version, changed_at = excluded.changed_at",
        (model, version, now),
    )
