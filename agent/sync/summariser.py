"""The summariser: per active grant, per matching stream, turn closed windows into gated outbox rows.

Each (grant, stream) step runs in one ledger transaction that writes its outbox rows and moves its
watermark together, so a crash, a restart or a broker outage never skips or doubles a window.
Summaries are read from the readings file (read-only), never from sources.
"""

from __future__ import annotations

import logging
import math
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from agent.consent import ledger as consent_ledger
from agent.consent.gate import Admitted, Refused, admit
from agent.consent.grants import Grant
from agent.store import queries
from agent.store.queries import StreamRef
from agent.store.sqlite import transaction
from agent.sync import outbox
from agent.sync.summaries import closed_until, first_window, label_changes, summary_bodies

log = logging.getLogger(__name__)

RAW_PER_MESSAGE = 500


@dataclass
class StepResult:
    """What one summarise pass queued, refused and dropped."""

    queued: int = 0
    refused: int = 0
    dropped_cap: int = 0
    dropped_ttl: int = 0
    ended: list[tuple[str, int]] = field(default_factory=list)


class Summariser:
    """Runs summarise passes; every method is blocking and runs on the sync layer's ledger thread."""

    def __init__(
        self,
        ledger: sqlite3.Connection,
        readings: sqlite3.Connection,
        *,
        hub_id: str,
        prefix: str,
        ttl_s: float,
        cap: int,
        lag_s: float = 2.0,
        max_windows: int = 2000,
    ) -> None:
        self.ledger = ledger
        self.readings = readings
        self.hub_id = hub_id
        self.prefix = prefix
        self.ttl_s = ttl_s
        self.cap = cap
        self.lag_s = lag_s
        self.max_windows = max_windows

    def step(self, now: float) -> StepResult:
        """One pass: end expired grants, drop expired messages, then summarise every closed window."""
        result = StepResult()
        result.ended = consent_ledger.end_expired(self.ledger, now=now)
        with transaction(self.ledger, immediate=True):
            result.dropped_ttl = outbox.expire(self.ledger, now=now)
        streams = queries.streams(self.readings)
        for grant in consent_ledger.active_grants(self.ledger, now=now):
            for stream in streams:
                if grant.covers(stream.name):
                    self._grant_stream(grant, stream, now, result)
        return result

    def _grant_stream(self, grant: Grant, info: StreamRef, now: float, result: StepResult) -> None:
        sid, stream, unit = info
        horizon = now - self.lag_s
        if grant.expires_at is not None:
            horizon = min(horizon, grant.expires_at)
        with transaction(self.ledger, immediate=True):
            revoked = (
                self.ledger.execute("SELECT 1 FROM revocations WHERE grant_id = ?", (grant.id,)).fetchone()
                is not None
            )
            if revoked:
                return
            row = self.ledger.execute(
                "SELECT until, state FROM summary_marks WHERE grant_id = ? AND stream = ?", (grant.id, stream)
            ).fetchone()
            grain = grant.grain
            bodies: list[tuple[dict[str, Any], float, float]]
            state: str | None = None
            if grain.kind == "summary" and grain.window_s is not None:
                mark = row[0] if row else first_window(grant.created_at, grain.window_s)
                until = closed_until(mark, horizon, grain.window_s, self.max_windows)
                if until <= mark:
                    return
                groups = queries.window_aggregates(
                    self.readings, sid, start=mark, end=until, window_s=grain.window_s
                )
                bodies = [(b, b["start"], b["end"]) for b in summary_bodies(groups, grain.window_s, unit)]
            else:
                mark = row[0] if row else grant.created_at
                if horizon <= mark:
                    return
                limit = self.max_windows * 10
                rows = queries.rows_between(self.readings, sid, start=mark, end=horizon, limit=limit)
                until = horizon if len(rows) < limit else math.nextafter(rows[-1][0], math.inf)
                if grain.kind == "events":
                    events, state = label_changes(rows, row[1] if row else None)
                    bodies = [(e, e["ts"], e["ts"]) for e in events]
                else:
                    bodies = [
                        (
                            {
                                "start": chunk[0][0],
                                "end": chunk[-1][0],
                                "readings": [list(r) for r in chunk],
                                "unit": unit,
                            },
                            chunk[0][0],
                            chunk[-1][0],
                        )
                        for chunk in (
                            rows[i : i + RAW_PER_MESSAGE] for i in range(0, len(rows), RAW_PER_MESSAGE)
                        )
                    ]
            admitted: list[Admitted] = []
            for body, start, end in bodies:
                verdict = admit(
                    grant,
                    revoked=revoked,
                    now=now,
                    stream=stream,
                    kind=grain.kind,
                    body=body,
                    data_start=start,
                    data_end=end,
                    hub_id=self.hub_id,
                    prefix=self.prefix,
                )
                if isinstance(verdict, Refused):
                    result.refused += 1
                    consent_ledger.append_audit(
                        self.ledger,
                        [
                            (
                                now,
                                "drop",
                                {"reason": "consent gate", "detail": verdict.reason, "stream": stream},
                            )
                        ],
                    )
                else:
                    admitted.append(verdict)
            result.dropped_cap += outbox.enqueue(
                self.ledger, admitted, hub_id=self.hub_id, now=now, ttl_s=self.ttl_s, cap=self.cap
            )
            result.queued += len(admitted)
            self.ledger.execute(
                "INSERT INTO summary_marks VALUES (?, ?, ?, ?) ON CONFLICT (grant_id, stream)"
                " DO UPDATE SET until = excluded.until, state = excluded.state",
                (grant.id, stream, until, state if state is not None else (row[1] if row else None)),
            )
