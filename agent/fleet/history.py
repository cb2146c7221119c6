"""The fleet's durable memory in the ledger: accepted versions and every outcome.

Accepted versions live in ``config_history``, every document's outcome in ``fleet_audit``. Each
config the hub actually changed to (applied, or applied and rolled back) is also entered in the
owner's hash-chained audit log, kind ``config``, next to what left the home; and each change of where
data goes that the owner allowed, kind ``destination``, when the config starts running (and again,
reversed, if it is rolled back), as well as each one a signed push tried and was refused.

The highest version in ``config_history`` is the replay watermark: a version is written there, with the
ledger's synchronous=FULL commit, before the hub changes anything, so no restart or power cut lets a
document at or below it back in. Versions that were rolled back stay there too: a bad config is never
retried; the fleet manager fixes it under a new version.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from agent.consent.destination import KIND as DESTINATION
from agent.consent.ledger import append_audit, audit_of_kind
from agent.store.sqlite import transaction

if TYPE_CHECKING:
    # Only for annotations: verify brings cryptography, which a hub without [fleet] never needs.
    from agent.fleet.verify import Change


class Outcome(NamedTuple):
    """What became of one document: ``applied``, ``rejected`` or ``rolled_back``, and why."""

    state: str
    version: int | None
    reason: str
    at: float


def last_accepted(ledger: sqlite3.Connection) -> int:
    """The highest version this hub ever accepted for applying (0 before the first push)."""
    (version,) = ledger.execute("SELECT coalesce(max(version), 0) FROM config_history").fetchone()
    return int(version)


def running_version(ledger: sqlite3.Connection) -> int:
    """The version of the config the hub runs (0: the provisioned file)."""
    row = ledger.execute(
        "SELECT version FROM config_history WHERE status = 'applied' ORDER BY version DESC LIMIT 1"
    ).fetchone()
    return int(row[0]) if row else 0


class Pending(NamedTuple):
    """An accepted config not yet confirmed: a restart to apply it, a crash or a power cut came first."""

    version: int
    sha256: str
    text: str
    starts: int


def interrupted(ledger: sqlite3.Connection) -> Pending | None:
    """The apply still waiting for its confirmation, if any."""
    row = ledger.execute(
        "SELECT version, sha256, document, starts FROM config_history WHERE status = 'applying' "
        "ORDER BY version DESC LIMIT 1"
    ).fetchone()
    return Pending(int(row[0]), str(row[1]), str(row[2]), int(row[3])) if row else None


def count_start(ledger: sqlite3.Connection, version: int) -> int:
    """Note one more agent start with ``version`` unconfirmed; return how many there have been."""
    with transaction(ledger, immediate=True):
        ledger.execute("UPDATE config_history SET starts = starts + 1 WHERE version = ?", (version,))
        query = "SELECT starts FROM config_history WHERE version = ?"
        (starts,) = ledger.execute(query, (version,)).fetchone()
    return int(starts)


def begin(
    ledger: sqlite3.Connection, version: int, sha256: str, text: str, destinations: Sequence[Change] = ()
) -> None:
    """Record ``version`` as accepted and being applied (the watermark moves here).

    Each change of where data goes (``destinations``, allowed by the owner) is audited in the same
    transaction, before the config runs.
    """
    now = time.time()
    with transaction(ledger, immediate=True):
        ledger.execute(
            "INSERT INTO config_history (version, applied_at, sha256, status, document)"
            " VALUES (?, ?, ?, ?, ?)",
            (version, now, sha256, "applying", text),
        )
        moved: list[dict[str, Any]] = [
            {"key": c.key, "from": c.before, "to": c.after, "version": version, "sha256": sha256}
            for c in destinations
        ]
        append_audit(ledger, [(now, DESTINATION, {**d, "allowed_by": "fleet.allow"}) for d in moved])


def finish(ledger: sqlite3.Connection, version: int, sha256: str, state: str, reason: str) -> Outcome:
    """Mark ``version`` applied or rolled back, and audit it, in one transaction."""
    with transaction(ledger, immediate=True):
        ledger.execute("UPDATE config_history SET status = ? WHERE version = ?", (state, version))
        outcome = _audit(ledger, sha256, version, state, reason)
        detail = {"version": version, "outcome": state, "reason": reason, "sha256": sha256}
        append_audit(ledger, [(outcome.at, "config", detail)])
        if state == "rolled_back":
            append_audit(ledger, [(outcome.at, DESTINATION, d) for d in _reversed(ledger, version)])
        return outcome


def _reversed(ledger: sqlite3.Connection, version: int) -> list[dict[str, Any]]:
    """The destination changes ``version`` made, undone by its rollback."""
    made = [json.loads(e.detail) for e in audit_of_kind(ledger, DESTINATION)]
    return [
        {"key": d["key"], "from": d["to"], "to": d["from"], "version": version, "rolled_back": True}
        for d in made
        if d.get("version") == version and not d.get("rolled_back") and not d.get("refused")
    ]


# Rejected documents kept in the audit: anyone who may publish on a fleet topic can send documents,
# so their number must not grow without bound; applied and rolled back ones are all kept.
KEEP_REJECTED = 1000


def reject(
    ledger: sqlite3.Connection,
    sha256: str,
    version: int | None,
    reason: str,
    refused: Sequence[Change] = (),
) -> Outcome:
    """Audit a rejected document, forgetting the oldest rejections beyond ``KEEP_REJECTED``.

    A signed push that tried to change where data goes (``refused``) is also entered in the owner's
    audit log, kind ``destination``: only the fleet key can cause those entries, so they cannot flood it.
    """
    with transaction(ledger, immediate=True):
        outcome = _audit(ledger, sha256, version, "rejected", reason)
        tried = [
            {
                "key": c.key,
                "from": c.before,
                "to": c.after,
                "version": version,
                "sha256": sha256,
                "refused": True,
            }
            for c in refused
        ]
        append_audit(ledger, [(outcome.at, DESTINATION, d) for d in tried])
        ledger.execute(
            "DELETE FROM fleet_audit WHERE outcome = 'rejected' AND id <= ("
            " SELECT id FROM fleet_audit WHERE outcome = 'rejected' ORDER BY id DESC LIMIT 1 OFFSET ?)",
            (KEEP_REJECTED,),
        )
        return outcome


def seen(ledger: sqlite3.Connection, sha256: str) -> bool:
    """True if this exact document was handled before (a retained message delivered again)."""
    query = (
        "SELECT 1 FROM fleet_audit WHERE sha256 = ? UNION ALL SELECT 1 FROM config_history WHERE sha256 = ?"
    )
    return ledger.execute(query, (sha256, sha256)).fetchone() is not None


def outcome_of(ledger: sqlite3.Connection, sha256: str) -> Outcome | None:
    """What became of the document with this sha256 when it was handled (None if no record is kept)."""
    row = ledger.execute(
        "SELECT outcome, version, reason, at FROM fleet_audit WHERE sha256 = ? ORDER BY id DESC LIMIT 1",
        (sha256,),
    ).fetchone()
    return Outcome(row[0], row[1], row[2], row[3]) if row else None


def latest(ledger: sqlite3.Connection) -> Outcome | None:
    """The most recent outcome, reported again each time the hub reconnects."""
    row = ledger.execute(
        "SELECT outcome, version, reason, at FROM fleet_audit ORDER BY id DESC LIMIT 1"
    ).fetchone()
    return Outcome(row[0], row[1], row[2], row[3]) if row else None


def _audit(ledger: sqlite3.Connection, sha256: str, version: int | None, state: str, reason: str) -> Outcome:
    now = time.time()
    ledger.execute(
        "INSERT INTO fleet_audit (at, sha256, version, outcome, reason) VALUES (?, ?, ?, ?, ?)",
        (now, sha256, version, state, reason),
    )
    return Outcome(state, version, reason, now)


def recent(ledger: sqlite3.Connection, limit: int) -> list[tuple[float, int | None, str, str]]:
    """The newest ``limit`` outcomes as (at, version, outcome, reason), newest first."""
    rows = ledger.execute(
        "SELECT at, version, outcome, reason FROM fleet_audit ORDER BY id DESC LIMIT ?", (limit,)
    ).fetchall()
    return [(at, version, outcome, reason) for at, version, outcome, reason in rows]
