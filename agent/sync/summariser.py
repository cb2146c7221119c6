"""The summariser: per active grant, per matching stream, turn closed windows into gated outbox rows.

Each (grant, stream) step runs in one ledger transaction that writes its outbox rows and moves its
watermark together, so a crash, a restart or a broker outage never skips or doubles a window.
Summaries are read from the readings file (read-only), never from sources.
"""

from __future__ import annotations

import logging
import math
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from agent.consent import budget, outbox
from agent.consent import ledger as consent_ledger
from agent.consent.dp import NoisySummary
from agent.consent.gate import Admitted, Refused, admit
from agent.consent.grants import MARKET, Grant
from agent.consent.granularity import Kind
from agent.errors import ConsentError
from agent.store import queries
from agent.store.queries import StreamRef
from agent.store.sqlite import transaction
from agent.sync.summaries import (
    closed_until,
    first_window,
    label_changes,
    noisy_summary_bodies,
    summary_bodies,
)

log = logging.getLogger(__name__)

RAW_PER_MESSAGE = 500


@dataclass
class StepResult:
    """What one summarise pass queued, refused and dropped."""

    queued: int = 0
    refused: int = 0
    refused_budget: int = 0
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
        self._held: set[str] = set()  # noised grants whose mechanism cannot be built here, warned of once

    def step(self, now: float) -> StepResult:
        """One pass: end expired grants, drop expired messages, then summarise every closed window."""
        result = StepResult()
        result.ended = consent_ledger.end_expired(self.ledger, now=now)
        with transaction(self.ledger, immediate=True):
            result.dropped_ttl = outbox.expire(self.ledger, now=now)
        streams = queries.streams(self.readings)
        for grant in consent_ledger.active_grants(self.ledger, now=now):
            if grant.recipient == MARKET:
                continue  # shown only inside the owner's intents (agent.intents), never upstream
            for stream in streams:
                if grant.covers(stream.name):
                    self._grant_stream(grant, stream, now, result)
        return result

    def _grant_stream(self, grant: Grant, info: StreamRef, now: float, result: StepResult) -> None:
        horizon = now - self.lag_s
        if grant.expires_at is not None:
            horizon = min(horizon, grant.expires_at)
        stream = info.name
        with transaction(self.ledger, immediate=True):
            revoked = consent_ledger.is_revoked(self.ledger, grant.id)
            if revoked:
                return
            mark = _mark_of(self.ledger, grant.id, stream)
            grain = grant.grain
            batcher = Summariser._noisy_summaries if grant.dp is not None else _BATCHERS[grain.kind]
            batch = batcher(self, grant, info, mark, horizon)
            if batch is None:
                return
            bodies, until, state = batch
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
            if grant.dp is not None:
                admitted = self._within_budget(grant, stream, admitted, now, result)
            result.dropped_cap += outbox.enqueue(
                self.ledger, admitted, hub_id=self.hub_id, now=now, ttl_s=self.ttl_s, cap=self.cap
            )
            result.queued += len(admitted)
            if state is None and mark is not None:
                state = mark.state
            _move_mark(self.ledger, grant.id, stream, _Mark(until, state))

    def _summaries(self, grant: Grant, info: StreamRef, mark: _Mark | None, horizon: float) -> _Batch | None:
        """Count, mean, min and max of each window closed since the mark (at most ``max_windows``)."""
        window_s = grant.grain.window_s
        if window_s is None:
            return None  # parse_granularity gives every summary its window
        start = mark.until if mark else first_window(grant.created_at, window_s)
        until = closed_until(start, horizon, window_s, self.max_windows)
        if until <= start:
            return None
        groups = queries.window_aggregates(self.readings, info.id, start=start, end=until, window_s=window_s)
        return _Batch([(b, b["start"], b["end"]) for b in summary_bodies(groups, window_s, info.unit)], until)

    def _noisy_summaries(
        self, grant: Grant, info: StreamRef, mark: _Mark | None, horizon: float
    ) -> _Batch | None:
        """A noisy count and mean (agent.consent.dp) of every window closed since the mark, empty ones
        too: whether a window had readings is itself what the noise hides."""
        window_s, policy = grant.grain.window_s, grant.dp
        if window_s is None or policy is None:
            return None
        start = mark.until if mark else first_window(grant.created_at, window_s)
        until = closed_until(start, horizon, window_s, self.max_windows)
        try:
            noise = NoisySummary(policy)
        except ConsentError as exc:
            # Made where OpenDP was installed, run where it is not: hold the grant (its windows leave once
            # it is back) rather than stop the hub, and say so once.
            if grant.id not in self._held:
                self._held.add(grant.id)
                log.warning(
                    "grant %s is held, nothing of it is sent: %s (%s)", grant.id, exc.message, exc.hint
                )
            return None
        values = queries.window_values(self.readings, info.id, start=start, end=until, window_s=window_s)
        made = noisy_summary_bodies(
            values, noise, start=start, until=until, window_s=window_s, unit=info.unit
        )
        bodies = [(body, body["start"], body["end"]) for body in made]
        return _Batch(bodies, until) if bodies else None

    def _within_budget(
        self, grant: Grant, stream: str, admitted: list[Admitted], now: float, result: StepResult
    ) -> list[Admitted]:
        """The noisy releases the recipient's budget allows, debited; the rest are audited, not sent."""
        if grant.dp is None:
            return admitted
        allowed = budget.debit(
            self.ledger,
            grant_id=grant.id,
            recipient=grant.recipient,
            stream=stream,
            policy=grant.dp,
            loss=NoisySummary(grant.dp).loss,
            windows=[(m.body["start"], m.body["end"]) for m in admitted],
            now=now,
        )
        result.refused_budget += len(admitted) - allowed
        return admitted[:allowed]

    def _rows(self, grant: Grant, info: StreamRef, mark: _Mark | None, horizon: float) -> _Rows | None:
        """The readings since the mark (at most ``max_windows * 10``) and where the next pass starts."""
        start = mark.until if mark else grant.created_at
        if horizon <= start:
            return None
        limit = self.max_windows * 10
        rows = queries.rows_between(self.readings, info.id, start=start, end=horizon, limit=limit)
        return rows, horizon if len(rows) < limit else math.nextafter(rows[-1][0], math.inf)

    def _events(self, grant: Grant, info: StreamRef, mark: _Mark | None, horizon: float) -> _Batch | None:
        """One body per label change since the mark; the last label is the new state."""
        found = self._rows(grant, info, mark, horizon)
        if found is None:
            return None
        rows, until = found
        events, state = label_changes(rows, mark.state if mark else None)
        return _Batch([(e, e["ts"], e["ts"]) for e in events], until, state)

    def _raw(self, grant: Grant, info: StreamRef, mark: _Mark | None, horizon: float) -> _Batch | None:
        """The readings since the mark as they are, ``RAW_PER_MESSAGE`` to a body."""
        found = self._rows(grant, info, mark, horizon)
        if found is None:
            return None
        rows, until = found
        chunks = (rows[i : i + RAW_PER_MESSAGE] for i in range(0, len(rows), RAW_PER_MESSAGE))
        bodies = [
            (
                {"start": c[0][0], "end": c[-1][0], "readings": [list(r) for r in c], "unit": info.unit},
                c[0][0],
                c[-1][0],
            )
            for c in chunks
        ]
        return _Batch(bodies, until)


class _Mark(NamedTuple):
    """A (grant, stream)'s watermark: data before ``until`` is done; ``state`` is the last label sent."""

    until: float
    state: str | None


def _mark_of(ledger: sqlite3.Connection, grant_id: str, stream: str) -> _Mark | None:
    row = ledger.execute(
        "SELECT until, state FROM summary_marks WHERE grant_id = ? AND stream = ?", (grant_id, stream)
    ).fetchone()
    return _Mark(*row) if row else None


def _move_mark(ledger: sqlite3.Connection, grant_id: str, stream: str, mark: _Mark) -> None:
    ledger.execute(
        "INSERT INTO summary_marks VALUES (?, ?, ?, ?) ON CONFLICT (grant_id, stream)"
        " DO UPDATE SET until = excluded.until, state = excluded.state",
        (grant_id, stream, mark.until, mark.state),
    )


class _Batch(NamedTuple):
    """What one granularity makes of the data since the mark: (body, data start, data end) per message,
    the new watermark, and the new state (None: unchanged)."""

    bodies: list[tuple[dict[str, Any], float, float]]
    until: float
    state: str | None = None


_Rows = tuple[list[tuple[float, float, str | None]], float]
_Batcher = Callable[[Summariser, Grant, StreamRef, _Mark | None, float], _Batch | None]
# One function per granularity kind: what a pass sends for one (grant, stream).
_BATCHERS: dict[Kind, _Batcher] = {
    "summary": Summariser._summaries,
    "events": Summariser._events,
    "raw": Summariser._raw,
}
