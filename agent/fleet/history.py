"""The fleet's durable memory in the ledger: accepted versions and every outcome.

Accepted versions live in ``config_history``, every document's outcome in ``fleet_audit``. Each
config the hub actually changed to (applied, or applied and rolled back) is also entered in the
owner's hash-chained audit log, kind ``config``, next to what left the home.

The highest version in ``config_history`` is the replay watermark: a version is written there, with the
ledger's synchronous=FULL commit, before the hub changes anything, so no restart or power cut lets a
document at or below it back in. Versions that were rolled back stay there too: a bad config is never
retried; the fleet manager fixes it under a new version.
"""

from __future__ import annotations

import sqlite3
import time
from typing import NamedTuple

from agent.consent.ledger import append_audit
from agent.store.sqlite import transaction


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


def begin(ledger: sqlite3.Connection, version: int, sha256: str, text: str) -> None:
    """Record ``version`` as accepted and being applied (the watermark moves here)."""
    ledger.execute(
        "INSERT INTO config_history (version, applied_at, sha256, status, document) VALUES (?, ?, ?, ?, ?)",
        (version, time.time(), sha256, "applying", text),
    )


def finish(ledger: sqlite3.Connection, version: int, sha256: str, state: str, reason: str) -> Outcome:
    """Mark ``version`` applied or rolled back, and audit it, in one transaction."""
    with transaction(ledger, immediate=True):
        ledger.execute("UPDATE config_history SET status = ? WHERE version = ?", (state, version))
        outcome = _audit(ledger, sha256, version, state, reason)
        detail = {"version": version, "outcome": state, "reason": reason, "sha256": sha256}
        append_audit(ledger, [(outcome.at, "config", detail)])
        return outcome


# Rejected documents kept in the audit: anyone who may publish on a fleet topic can send documents,
# so their number must not grow without bound; applied and rolled back ones are all kept.
KEEP_REJECTED = 1000


def reject(ledger: sqlite3.Connection, sha256: str, version: int | None, reason: str) -> Outcome:
    """Audit a rejected document, forgetting the oldest rejections beyond ``KEEP_REJECTED``."""
    with transaction(ledger, immediate=True):
        outcome = _audit(ledger, sha256, version, "rejected", reason)
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
