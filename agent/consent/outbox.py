"""The outbox: admitted messages waiting for the broker, in the ledger file.

Policy (documented in the README):
- Rows leave the outbox only when the broker acknowledged them (PUBACK), when their grant is revoked
  or expires (purged, audited), when their TTL passes (dropped, audited), when the broker refuses them
  or they exceed its packet size (set aside in ``outbox_set_aside``, audited), or when the outbox is
  over its cap: then the oldest data messages are dropped (erasure requests never), counted and audited.
- Every message carries the hub's next sequence number, assigned here, so consumers can de-duplicate.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Sequence
from typing import Any, NamedTuple

from agent.consent.gate import Admitted
from agent.consent.ledger import append_audit

_SEQ = "sync.seq"
_ACKED = "sync.last_acked_seq"


class Row(NamedTuple):
    """One queued message."""

    seq: int
    grant_id: str | None
    recipient: str
    stream: str
    kind: str
    topic: str
    payload: bytes
    expires_at: float


def digest(payload: bytes) -> str:
    """The sha256 recorded in the audit log for a published payload."""
    return hashlib.sha256(payload).hexdigest()


def encode(seq: int, hub_id: str, message: Admitted) -> bytes:
    """The JSON payload sent upstream: the gate's body plus hub id, kind and sequence number."""
    body: dict[str, Any] = {**message.body, "hub": hub_id, "kind": message.kind, "seq": seq}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def enqueue(
    conn: sqlite3.Connection,
    messages: Sequence[Admitted],
    *,
    hub_id: str,
    now: float,
    ttl_s: float,
    cap: int,
) -> int:
    """Number and queue ``messages``, then apply the cap; call inside an IMMEDIATE transaction.

    Returns how many old messages the cap dropped.
    """
    if messages:
        row = conn.execute("SELECT value FROM counters WHERE name = ?", (_SEQ,)).fetchone()
        seq = row[0] if row else 0
        rows = []
        for m in messages:
            if not isinstance(m, Admitted):
                raise TypeError("only messages admitted by the consent gate may be queued")
            seq += 1
            rows.append(
                (
                    seq,
                    m.grant_id,
                    m.recipient,
                    m.stream,
                    m.kind,
                    m.topic,
                    encode(seq, hub_id, m),
                    now,
                    now + ttl_s,
                )
            )
        conn.executemany(
            "INSERT INTO outbox (seq, grant_id, recipient, stream, kind, topic, payload, created_at,"
            " expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        conn.execute(
            "INSERT INTO counters VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (_SEQ, seq),
        )
    return _apply_cap(conn, now=now, cap=cap)


def _apply_cap(conn: sqlite3.Connection, *, now: float, cap: int) -> int:
    (depth,) = conn.execute("SELECT count(*) FROM outbox").fetchone()
    excess = depth - cap
    if excess <= 0:
        return 0
    victims = conn.execute(
        "SELECT seq, grant_id FROM outbox WHERE kind != 'erasure' ORDER BY seq LIMIT ?", (excess,)
    ).fetchall()
    if not victims:
        return 0
    conn.execute("DELETE FROM outbox WHERE seq <= ? AND kind != 'erasure'", (victims[-1][0],))
    append_audit(
        conn,
        [
            (
                now,
                "drop",
                {
                    "reason": "outbox cap",
                    "cap": cap,
                    "count": len(victims),
                    "first_seq": victims[0][0],
                    "last_seq": victims[-1][0],
                    "grants": sorted({g for _, g in victims if g}),
                },
            )
        ],
    )
    return len(victims)


def expire(conn: sqlite3.Connection, *, now: float) -> int:
    """Drop messages whose TTL passed, with one audit entry; call inside an IMMEDIATE transaction."""
    rows = conn.execute(
        "SELECT seq, grant_id FROM outbox WHERE expires_at <= ? ORDER BY seq", (now,)
    ).fetchall()
    if not rows:
        return 0
    conn.execute("DELETE FROM outbox WHERE expires_at <= ?", (now,))
    append_audit(
        conn,
        [
            (
                now,
                "drop",
                {
                    "reason": "ttl expired",
                    "count": len(rows),
                    "seqs": [s for s, _ in rows][:1000],
                    "grants": sorted({g for _, g in rows if g}),
                },
            )
        ],
    )
    return len(rows)


# A queued message may go out while unexpired and while its grant (if any) is neither ended nor revoked.
_SENDABLE = """
    o.expires_at > :now AND (o.grant_id IS NULL OR (
        g.ended_at IS NULL AND (g.expires_at IS NULL OR g.expires_at > :now)
        AND NOT EXISTS (SELECT 1 FROM revocations r WHERE r.grant_id = o.grant_id)))
"""
_FROM = "FROM outbox o LEFT JOIN grants g ON g.id = o.grant_id"
_COLUMNS = "o.seq, o.grant_id, o.recipient, o.stream, o.kind, o.topic, o.payload, o.expires_at"
_NEXT = f"SELECT {_COLUMNS} {_FROM} WHERE o.seq > :after AND {_SENDABLE} ORDER BY o.seq LIMIT :limit"
_STILL = f"SELECT o.seq {_FROM} WHERE o.seq IN (SELECT value FROM json_each(:seqs)) AND {_SENDABLE}"  # noqa: S608


def next_batch(conn: sqlite3.Connection, *, after: int, limit: int, now: float) -> list[Row]:
    """Up to ``limit`` sendable messages after sequence ``after``, oldest first, grants re-checked."""
    return [Row(*r) for r in conn.execute(_NEXT, {"after": after, "now": now, "limit": limit})]


def sendable(conn: sqlite3.Connection, seqs: Sequence[int], *, now: float) -> set[int]:
    """Which of ``seqs`` may still go out now (queued, unexpired, grant still active)."""
    return {row[0] for row in conn.execute(_STILL, {"seqs": json.dumps(list(seqs)), "now": now})}


def acknowledged(conn: sqlite3.Connection, rows: Sequence[Row], *, now: float) -> None:
    """The broker acknowledged ``rows``: delete them and audit each publish, in one transaction."""
    if not rows:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany("DELETE FROM outbox WHERE seq = ?", [(r.seq,) for r in rows])
        append_audit(
            conn,
            [
                (
                    now,
                    "erasure request" if r.kind == "erasure" else "publish",
                    {
                        "seq": r.seq,
                        "grant": r.grant_id,
                        "recipient": r.recipient,
                        "stream": r.stream,
                        "topic": r.topic,
                        "sha256": digest(r.payload),
                    },
                )
                for r in sorted(rows)
            ],
        )
        top = max(r.seq for r in rows)
        conn.execute(
            "INSERT INTO counters VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)",
            (_ACKED, top),
        )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def set_aside(conn: sqlite3.Connection, row: Row, reason: str, *, now: float) -> None:
    """Move a message the broker refused (or cannot take) out of the way, and audit it."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("DELETE FROM outbox WHERE seq = ?", (row.seq,))
        conn.execute(
            "INSERT OR REPLACE INTO outbox_set_aside VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (row.seq, row.grant_id, row.recipient, row.stream, row.kind, row.topic, row.payload, now, reason),
        )
        append_audit(
            conn,
            [
                (
                    now,
                    "drop",
                    {
                        "reason": "refused",
                        "detail": reason,
                        "seq": row.seq,
                        "grant": row.grant_id,
                        "topic": row.topic,
                    },
                )
            ],
        )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def queued_messages(conn: sqlite3.Connection) -> list[tuple[str, bytes]]:
    """Every queued message's (topic, payload) in sequence order, sendable or not."""
    return conn.execute("SELECT topic, payload FROM outbox ORDER BY seq").fetchall()


def purge_stream(conn: sqlite3.Connection, stream: str) -> int:
    """Delete the queued messages of ``stream`` (erasure requests stay); return how many went."""
    return int(conn.execute("DELETE FROM outbox WHERE stream = ? AND kind != 'erasure'", (stream,)).rowcount)


def set_aside_count(conn: sqlite3.Connection) -> int:
    """How many messages were set aside as undeliverable."""
    return int(conn.execute("SELECT count(*) FROM outbox_set_aside").fetchone()[0])


def oldest_queued(conn: sqlite3.Connection) -> float | None:
    """When the oldest queued message was created (None when the outbox is empty)."""
    (oldest,) = conn.execute("SELECT min(created_at) FROM outbox").fetchone()
    return None if oldest is None else float(oldest)


def depth(conn: sqlite3.Connection) -> int:
    """Messages waiting in the outbox."""
    return int(conn.execute("SELECT count(*) FROM outbox").fetchone()[0])


def last_acked_seq(conn: sqlite3.Connection) -> int:
    """The highest sequence number the broker acknowledged (0 before the first)."""
    row = conn.execute("SELECT value FROM counters WHERE name = ?", (_ACKED,)).fetchone()
    return int(row[0]) if row else 0


def record_state(conn: sqlite3.Connection, values: dict[str, Any]) -> None:
    """Record the publisher's connection state for ``hearth sync status``."""
    conn.executemany(
        "INSERT INTO sync_state VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [(k, json.dumps(v)) for k, v in values.items()],
    )


def read_state(conn: sqlite3.Connection) -> dict[str, Any]:
    """What ``record_state`` last recorded."""
    return {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM sync_state")}
