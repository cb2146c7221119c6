"""What an intent shows: summaries of the strands the owner names, each through a grant to the market.

No second consent path: a strand goes with an intent only when an active grant to the recipient
``market`` covers it at a ``summary:<window>`` granularity, and every window passes ``consent.gate.admit``
under that grant (so the grant's precision, start and end hold). The grant's id is left out of what is
published, since one grant serves many intents and would link them.

Under a noised grant each window is a noisy count and mean, as upstream, and what they cost is returned as
a ``Charge``: the caller debits the market's privacy budget in the ledger transaction that records the
intent, so nothing noised is published without being paid for, and an intent the budget cannot pay for is
not made.
"""

from __future__ import annotations

import sqlite3
from typing import Any, NamedTuple

from agent.consent.dp import NoisySummary
from agent.consent.gate import Refused, admit
from agent.consent.grants import MARKET, Grant
from agent.consent.strands import check_pattern, listing
from agent.errors import IntentError
from agent.store import queries
from agent.store.queries import StreamRef
from agent.sync.summaries import closed_until, first_window, noisy_summary_bodies, summary_bodies

AUDIENCE = MARKET
MAX_WINDOWS = 500
# Fields of an admitted body that stay home: the grant id (it would link intents) and the granularity
# (said once per strand instead).
_LEFT_OUT = ("grant", "granularity", "stream")


class Charge(NamedTuple):
    """Noised windows of ``stream`` an intent shows under ``grant``, ``loss`` each off the market's budget."""

    grant: Grant
    stream: str
    loss: float
    windows: list[tuple[float, float]]


def market_grant(grants: list[Grant], stream: str) -> Grant | None:
    """The newest active summary grant to the market that covers ``stream``."""
    for grant in grants:
        if grant.recipient == AUDIENCE and grant.covers(stream) and grant.grain.kind == "summary":
            return grant
    return None


def shown_data(
    readings: sqlite3.Connection,
    grants: list[Grant],
    *,
    strands: list[str],
    windows: int,
    now: float,
    until: float,
) -> tuple[list[dict[str, Any]], list[str], list[Charge]]:
    """The data entries for ``strands`` (the last ``windows`` closed windows each), the grants used, and
    what the noised ones cost.

    ``grants`` are the active grants at ``now``; ``until`` is when the intent ends, which each grant
    must outlast.
    """
    if not 1 <= windows <= MAX_WINDOWS:
        raise IntentError(f"{windows} windows is out of range", hint=f"between 1 and {MAX_WINDOWS}")
    entries: list[dict[str, Any]] = []
    used: list[str] = []
    charges: list[Charge] = []
    for strand in dict.fromkeys(strands):
        name = check_pattern(strand)
        if "*" in name:
            raise IntentError(
                f"an intent shows streams by their names, not patterns: {name!r}",
                field="show",
                example="living_room.temperature",
            )
        stream = queries.stream_named(readings, name)
        if stream is None:
            raise IntentError(
                f"no stream {name!r} on this hub",
                hint=listing(queries.stream_names(readings), (), near=name),
                field="show",
            )
        grant = market_grant(grants, name)
        if grant is None:
            raise IntentError(
                f"no grant lets {name!r} go to the market",
                hint=f"give the recipient {AUDIENCE} a summary:<window> grant of {name} first",
                field="show",
            )
        if grant.expires_at is not None and grant.expires_at < until:
            raise IntentError(
                f"grant {grant.id} ends before the intent would",
                hint="give the intent a shorter lifetime, or a longer grant",
            )
        entry, charge = _entry(readings, grant, stream, windows=windows, now=now)
        entries.append(entry)
        used.append(grant.id)
        if charge is not None:
            charges.append(charge)
    return entries, sorted(set(used)), charges


def _entry(
    readings: sqlite3.Connection,
    grant: Grant,
    stream: StreamRef,
    *,
    windows: int,
    now: float,
) -> tuple[dict[str, Any], Charge | None]:
    sid, name, unit = stream
    window_s = grant.grain.window_s
    assert window_s is not None
    mark = first_window(grant.created_at, window_s)
    end = closed_until(mark, now, window_s, 10**9)
    start = max(mark, end - windows * window_s)
    loss = None
    if grant.dp is None:
        groups = queries.window_aggregates(readings, sid, start=start, end=end, window_s=window_s)
        bodies = summary_bodies(groups, window_s, unit)
    else:
        noisy = NoisySummary(grant.dp)
        values = queries.window_values(readings, sid, start=start, end=end, window_s=window_s)
        bodies = noisy_summary_bodies(values, noisy, start=start, until=end, window_s=window_s, unit=unit)
        loss = noisy.loss
    summaries = []
    for body in bodies:
        verdict = admit(
            grant,
            revoked=False,
            now=now,
            stream=name,
            kind="summary",
            body=body,
            data_start=body["start"],
            data_end=body["end"],
            hub_id="-",
            prefix="-",
        )
        if isinstance(verdict, Refused):
            continue
        summaries.append({k: v for k, v in verdict.body.items() if k not in _LEFT_OUT})
    entry = {"stream": name, "granularity": grant.granularity, "summaries": summaries}
    if loss is None or not summaries:
        return entry, None
    return entry, Charge(grant, name, loss, [(b["start"], b["end"]) for b in summaries])
