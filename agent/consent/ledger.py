"""Grants, revocations, receipts and the audit log in the ledger file (SQL only; rules live elsewhere).

Every change the owner makes commits together with its audit entry, in one ledger transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import msgspec

from agent.consent import audit
from agent.consent.dp import DpPolicy
from agent.consent.grants import Grant
from agent.consent.receipts import dumps as receipt_json
from agent.errors import ConsentError, See
from agent.store.sqlite import transaction

_HEAD = "audit.head"


class GrantState(NamedTuple):
    """A grant and where it stands."""

    grant: Grant
    status: str  # active | revoked | expired
    ended_at: float | None
    queued: int


# -- audit ------------------------------------------------------------------------------------------


def append_audit(conn: sqlite3.Connection, items: Sequence[tuple[float, str, dict[str, Any]]]) -> None:
    """Append ``items`` (ts, kind, detail) to the chain; call inside an IMMEDIATE transaction."""
    if not items:
        return
    row = conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    prev_seq, prev_hash = row if row is not None else (0, audit.GENESIS)
    entries = audit.chain(prev_seq, prev_hash, items)
    conn.executemany("INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?)", entries)
    last = entries[-1]
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (_HEAD, f"{last.seq}:{last.hash}"),
    )


def audit_count(conn: sqlite3.Connection) -> int:
    """How many entries the audit log holds."""
    return int(conn.execute("SELECT count(*) FROM audit_log").fetchone()[0])


def published_strands(conn: sqlite3.Connection) -> set[tuple[str, str | None]]:
    """(recipient, stream) of every publish the audit log records (stream None where it names none)."""
    return set(
        conn.execute(
            "SELECT DISTINCT json_extract(detail, '$.recipient'), json_extract(detail, '$.stream')"
            " FROM audit_log WHERE kind = 'publish'"
        )
    )


def audit_matching(
    conn: sqlite3.Connection,
    *,
    kind: str = "",
    who: str = "",
    strand: str = "",
    since: float | None = None,
    until: float | None = None,
    limit: int,
    offset: int = 0,
) -> tuple[list[tuple[int, float, str, str]], int]:
    """Audit entries (seq, ts, kind, detail as JSON text) matching every filter given, newest first,
    ``limit`` from ``offset``; and how many match in all.

    ``who`` matches a grant id or a recipient (directly, or through the grant an entry names);
    ``strand`` a stream an entry names; ``since``/``until`` bound ``ts`` (until excluded).
    """
    where: list[str] = []
    params: dict[str, Any] = {}
    if kind:
        where.append("kind = :kind")
        params["kind"] = kind
    if who:
        where.append(
            "(json_extract(detail, '$.grant') = :who OR json_extract(detail, '$.recipient') = :who"
            " OR json_extract(detail, '$.grant') IN (SELECT id FROM grants WHERE recipient = :who)"
            " OR EXISTS (SELECT 1 FROM json_each(detail, '$.grants') WHERE value = :who))"
        )
        params["who"] = who
    if strand:
        where.append(
            "(json_extract(detail, '$.stream') = :strand"
            " OR EXISTS (SELECT 1 FROM json_each(detail, '$.strands') WHERE value = :strand)"
            " OR EXISTS (SELECT 1 FROM json_each(detail, '$.streams') WHERE value = :strand))"
        )
        params["strand"] = strand
    if since is not None:
        where.append("ts >= :since")
        params["since"] = since
    if until is not None:
        where.append("ts < :until")
        params["until"] = until
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    (total,) = conn.execute(f"SELECT count(*) FROM audit_log{clause}", params).fetchone()  # noqa: S608 - fixed clauses
    rows = conn.execute(
        f"SELECT seq, ts, kind, detail FROM audit_log{clause}"  # noqa: S608 - fixed clauses
        " ORDER BY seq DESC LIMIT :limit OFFSET :offset",
        {**params, "limit": limit, "offset": offset},
    ).fetchall()
    return rows, int(total)


def audit_entries(conn: sqlite3.Connection) -> Iterable[audit.Entry]:
    """Every audit entry in order."""
    for row in conn.execute("SELECT seq, ts, kind, detail, prev_hash, hash FROM audit_log ORDER BY seq"):
        yield audit.Entry(*row)


def audit_of_kind(conn: sqlite3.Connection, kind: str) -> list[audit.Entry]:
    """The audit entries of one ``kind`` (``destination``, ``config``...), in order."""
    rows = conn.execute(
        "SELECT seq, ts, kind, detail, prev_hash, hash FROM audit_log WHERE kind = ? ORDER BY seq", (kind,)
    )
    return [audit.Entry(*row) for row in rows]


def audit_head(conn: sqlite3.Connection) -> tuple[int, str] | None:
    """The (seq, hash) recorded after the last append, or None for an empty log."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (_HEAD,)).fetchone()
    if row is None:
        return None
    seq, _, digest = str(row[0]).partition(":")
    return int(seq), digest


def verify_audit(conn: sqlite3.Connection) -> list[str]:
    """Problems found in the ledger's audit chain (empty when intact)."""
    return audit.verify(audit_entries(conn), head=audit_head(conn))


# -- grants -----------------------------------------------------------------------------------------


def _grant(row: sqlite3.Row | tuple[Any, ...], dp: str | None = None) -> Grant:
    gid, recipient, purpose, strands, granularity, precision, created_at, expires_at = row[:8]
    return Grant(
        id=gid,
        recipient=recipient,
        purpose=purpose,
        strands=tuple(json.loads(strands)),
        granularity=granularity,
        precision=precision,
        created_at=created_at,
        expires_at=expires_at,
        dp=None if dp is None else msgspec.json.decode(dp, type=DpPolicy),
    )


def add_grant(conn: sqlite3.Connection, grant: Grant, receipt: dict[str, Any]) -> None:
    """Record ``grant`` with its receipt and audit entry, atomically."""
    with transaction(conn, immediate=True):
        conn.execute(
            "INSERT INTO grants (id, recipient, purpose, strands, granularity, precision, created_at,"
            " expires_at, dp) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                grant.id,
                grant.recipient,
                grant.purpose,
                json.dumps(list(grant.strands)),
                grant.granularity,
                grant.precision,
                grant.created_at,
                grant.expires_at,
                None if grant.dp is None else msgspec.json.encode(grant.dp).decode(),
            ),
        )
        conn.execute(
            "INSERT INTO receipts (id, grant_id, issued_at, document) VALUES (?, ?, ?, ?)",
            (receipt["recordId"], grant.id, grant.created_at, receipt_json(receipt)),
        )
        append_audit(
            conn,
            [
                (
                    grant.created_at,
                    "grant",
                    {
                        "grant": grant.id,
                        "recipient": grant.recipient,
                        "purpose": grant.purpose,
                        "strands": list(grant.strands),
                        "granularity": grant.granularity,
                        "precision": grant.precision,
                        "expires_at": grant.expires_at,
                        **({} if grant.dp is None else {"dp": msgspec.to_builtins(grant.dp)}),
                    },
                )
            ],
        )


def grants(conn: sqlite3.Connection, *, now: float) -> list[GrantState]:
    """Every grant ever given, newest first, with its status at ``now`` and queued message count."""
    rows = conn.execute(
        "SELECT g.id, g.recipient, g.purpose, g.strands, g.granularity, g.precision, g.created_at,"
        " g.expires_at, r.revoked_at, g.ended_at,"
        " (SELECT count(*) FROM outbox o WHERE o.grant_id = g.id), g.dp"
        " FROM grants g LEFT JOIN revocations r ON r.grant_id = g.id ORDER BY g.created_at DESC, g.id"
    ).fetchall()
    out = []
    for row in rows:
        grant = _grant(row, row[11])
        revoked_at, ended_at, queued = row[8], row[9], row[10]
        if revoked_at is not None:
            status, ended = "revoked", revoked_at
        elif grant.expired(now):
            status, ended = "expired", ended_at or grant.expires_at
        else:
            status, ended = "active", None
        out.append(GrantState(grant, status, ended, queued))
    return out


def active_grants(conn: sqlite3.Connection, *, now: float) -> list[Grant]:
    """Grants neither revoked nor expired at ``now``."""
    return [s.grant for s in grants(conn, now=now) if s.status == "active"]


def get_grant(conn: sqlite3.Connection, grant_id: str, *, now: float) -> GrantState:
    """One grant by id; ``ConsentError`` if there is none."""
    for state in grants(conn, now=now):
        if state.grant.id == grant_id:
            return state
    raise ConsentError(f"no grant {grant_id!r}", hint="{see} shows every grant", see=See("grants"))


def receipt(conn: sqlite3.Connection, grant_id: str) -> str:
    """The stored receipt JSON of ``grant_id``."""
    row = conn.execute(
        "SELECT document FROM receipts WHERE grant_id = ? OR id = ?", (grant_id, grant_id)
    ).fetchone()
    if row is None:
        raise ConsentError(f"no receipt for {grant_id!r}", hint="{see} shows every grant", see=See("grants"))
    return str(row[0])


def is_revoked(conn: sqlite3.Connection, grant_id: str) -> bool:
    """The grant ``grant_id`` has been revoked."""
    return conn.execute("SELECT 1 FROM revocations WHERE grant_id = ?", (grant_id,)).fetchone() is not None


def revoke(conn: sqlite3.Connection, grant_id: str, *, now: float) -> int:
    """Revoke ``grant_id`` at once: purge its queued messages (unsent); return how many were purged."""
    with transaction(conn, immediate=True):
        if conn.execute("SELECT 1 FROM grants WHERE id = ?", (grant_id,)).fetchone() is None:
            raise ConsentError(f"no grant {grant_id!r}", hint="{see} shows every grant", see=See("grants"))
        if conn.execute("SELECT 1 FROM revocations WHERE grant_id = ?", (grant_id,)).fetchone():
            raise ConsentError(f"grant {grant_id} is already revoked")
        purged = conn.execute("DELETE FROM outbox WHERE grant_id = ?", (grant_id,)).rowcount
        conn.execute("INSERT INTO revocations VALUES (?, ?, ?)", (grant_id, now, purged))
        conn.execute("UPDATE grants SET ended_at = ? WHERE id = ?", (now, grant_id))
        conn.execute("DELETE FROM summary_marks WHERE grant_id = ?", (grant_id,))
        append_audit(conn, [(now, "revoke", {"grant": grant_id, "purged_unsent": purged})])
    return purged


def end_expired(conn: sqlite3.Connection, *, now: float) -> list[tuple[str, int]]:
    """Close grants whose time is up: purge their queued messages and audit it; (grant, purged) each."""
    with transaction(conn, immediate=True):
        rows = conn.execute(
            "SELECT g.id FROM grants g LEFT JOIN revocations r ON r.grant_id = g.id"
            " WHERE g.expires_at IS NOT NULL AND g.expires_at <= ? AND g.ended_at IS NULL"
            " AND r.grant_id IS NULL",
            (now,),
        ).fetchall()
        ended = []
        for (gid,) in rows:
            purged = conn.execute("DELETE FROM outbox WHERE grant_id = ?", (gid,)).rowcount
            conn.execute("UPDATE grants SET ended_at = ? WHERE id = ?", (now, gid))
            conn.execute("DELETE FROM summary_marks WHERE grant_id = ?", (gid,))
            ended.append((gid, purged))
        append_audit(conn, [(now, "expire", {"grant": g, "purged_unsent": p}) for g, p in ended])
    return ended
