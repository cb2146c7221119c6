"""The owner's labels: "from FROM to TO, model MODEL saw CLASS". Owner data, kept in the ledger file.

SQL on the ``labels`` table lives here and nowhere else.
"""

from __future__ import annotations

import math
import re
import sqlite3
from collections.abc import Callable

import msgspec

from agent.errors import LearningError, See
from agent.store.sqlite import transaction

# A class name is what the context strand will carry: short, printable, no path or glob characters.
CLASS_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,39}$")
# A label longer than this is more likely a typo in a date than a week of one appliance.
MAX_SPAN_S = 7 * 86400.0


class Label(msgspec.Struct, frozen=True):
    """One labelled span of time on one model."""

    id: int
    model: str
    start_ts: float
    end_ts: float
    cls: str
    created_at: float


def check(model: str, start_ts: float, end_ts: float, cls: str, *, known_models: list[str]) -> None:
    """Raise ``LearningError`` naming what is wrong with a label before it is stored."""
    if model not in known_models:
        known = ", ".join(known_models) or "none configured"
        raise LearningError(f"no model {model!r} on this hub", hint=f"models: {known}")
    if not CLASS_NAME.match(cls):
        raise LearningError(
            f"invalid class name {cls!r}",
            hint="{field} takes lower-case letters, digits, _ and -, up to 40 characters"
            " (for example heat_pump)",
            field="cls",
        )
    if not (math.isfinite(start_ts) and math.isfinite(end_ts)):
        raise LearningError("a label's start and end must be times", field="from", example="2026-12-02T14:30")
    if end_ts <= start_ts:
        raise LearningError(
            "a label must end after it starts", hint="give {field} a time after the start", field="to"
        )
    if end_ts - start_ts > MAX_SPAN_S:
        raise LearningError(
            f"a label spans at most 7 days; this one spans {(end_ts - start_ts) / 86400:.1f} days",
            hint="label the span the class really lasted",
        )


Also = Callable[[sqlite3.Connection, Label], None]


def add(
    conn: sqlite3.Connection,
    model: str,
    start_ts: float,
    end_ts: float,
    cls: str,
    *,
    now: float,
    also: Also | None = None,
) -> Label:
    """Store a label and return it with its id; ``also`` runs in the same transaction (its audit entry)."""
    with transaction(conn, immediate=True):
        cursor = conn.execute(
            "INSERT INTO labels (model, start_ts, end_ts, class, created_at) VALUES (?, ?, ?, ?, ?)",
            (model, start_ts, end_ts, cls, now),
        )
        assert cursor.lastrowid is not None
        made = Label(cursor.lastrowid, model, start_ts, end_ts, cls, now)
        if also is not None:
            also(conn, made)
    return made


def listed(conn: sqlite3.Connection, model: str | None = None) -> list[Label]:
    """Labels in time order, of one model or of all."""
    sql = "SELECT id, model, start_ts, end_ts, class, created_at FROM labels"
    args: tuple[str, ...] = ()
    if model is not None:
        sql += " WHERE model = ?"
        args = (model,)
    return [Label(*row) for row in conn.execute(sql + " ORDER BY model, start_ts, id", args)]


def remove(conn: sqlite3.Connection, label_id: int, *, also: Also | None = None) -> Label:
    """Delete label ``label_id``; ``LearningError`` if there is none. ``also`` is as in ``add``."""
    with transaction(conn, immediate=True):
        row = conn.execute(
            "SELECT id, model, start_ts, end_ts, class, created_at FROM labels WHERE id = ?", (label_id,)
        ).fetchone()
        if row is None:
            raise LearningError(f"no label {label_id}", hint="{see} shows their ids", see=See("labels"))
        conn.execute("DELETE FROM labels WHERE id = ?", (label_id,))
        removed = Label(*row)
        if also is not None:
            also(conn, removed)
    return removed


def models(conn: sqlite3.Connection) -> list[str]:
    """Every model the owner labelled."""
    return [m for (m,) in conn.execute("SELECT DISTINCT model FROM labels ORDER BY model")]


def erase(conn: sqlite3.Connection, model: str) -> int:
    """Delete every label of ``model`` (in the caller's transaction); return how many there were."""
    return conn.execute("DELETE FROM labels WHERE model = ?", (model,)).rowcount
