"""Each recipient's privacy budget in the ledger file: what noisy releases spent, per period (SQL only).

The rules (what a release costs, when a period renews, what the cap allows) are ``agent.consent.dp``'s;
this module keeps the figures next to the outbox rows they paid for, so one ledger transaction queues a
release and debits it, or refuses it and audits that, together. All grants to one recipient that noise in
the same unit (epsilon or rho) draw on one budget: the recipient learns from all of them.
"""

from __future__ import annotations

import sqlite3
from typing import NamedTuple

from agent.consent.dp import Budget, DpPolicy, charge, period_start
from agent.consent.ledger import append_audit


class Standing(NamedTuple):
    """A recipient's budget in the period holding ``now``: spent and left of the grant's cap."""

    unit: str
    spent: float
    cap: float
    releases: int
    refused: int
    period_start: float
    period_end: float

    @property
    def left(self) -> float:
        """What the cap still allows this period (never below nothing)."""
        return max(self.cap - self.spent, 0.0)


def standing(conn: sqlite3.Connection, recipient: str, policy: DpPolicy, *, now: float) -> Standing:
    """Where ``recipient``'s budget stands at ``now`` under ``policy``'s cap and period."""
    start = period_start(now, policy.period_s)
    row = conn.execute(
        "SELECT spent, releases, refused FROM dp_budget"
        " WHERE recipient = ? AND unit = ? AND period_start = ?",
        (recipient, policy.unit, start),
    ).fetchone()
    spent, releases, refused = row if row is not None else (0.0, 0, 0)
    return Standing(policy.unit, spent, policy.cap, releases, refused, start, start + policy.period_s)


def debit(
    conn: sqlite3.Connection,
    *,
    grant_id: str,
    recipient: str,
    stream: str,
    policy: DpPolicy,
    loss: float,
    windows: list[tuple[float, float]],
    now: float,
) -> int:
    """Charge ``recipient`` for releasing ``windows`` (start, end) in order; how many the cap allows.

    The windows past the cap are not to be sent: they cost nothing and one audit entry says so. Call inside
    the IMMEDIATE transaction that queues the allowed releases.
    """
    if not windows:
        return 0
    before = standing(conn, recipient, policy, now=now)
    budget = Budget(before.period_start, before.spent)
    allowed = 0
    for _ in windows:
        budget, ok = charge(budget, loss=loss, cap=policy.cap, period_s=policy.period_s, now=now)
        if not ok:
            break
        allowed += 1
    refused = len(windows) - allowed
    conn.execute(
        "INSERT INTO dp_budget VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (recipient, unit, period_start)"
        " DO UPDATE SET spent = excluded.spent, releases = excluded.releases, refused = excluded.refused",
        (
            recipient,
            policy.unit,
            before.period_start,
            policy.period_s,
            budget.spent,
            before.releases + allowed,
            before.refused + refused,
        ),
    )
    common = {
        "grant": grant_id,
        "recipient": recipient,
        "stream": stream,
        "mechanism": policy.mechanism,
        "unit": policy.unit,
        "spent": budget.spent,
        "cap": policy.cap,
        "period_start": before.period_start,
    }
    entries = []
    if allowed:
        entries.append(
            (now, "dp-debit", {**common, "releases": allowed, "loss_each": loss, "debited": allowed * loss})
        )
    if refused:
        first, last = windows[allowed][0], windows[-1][1]
        entries.append(
            (
                now,
                "drop",
                {
                    **common,
                    "reason": "privacy budget",
                    "detail": f"{refused} noisy summaries would pass the cap of {policy.cap:g}"
                    f" {policy.unit} this period; not sent",
                    "count": refused,
                    "data_start": first,
                    "data_end": last,
                    "renews_at": before.period_start + policy.period_s,
                },
            )
        )
    append_audit(conn, entries)
    return allowed
