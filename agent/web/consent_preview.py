"""What a grant would send, computed by the summariser itself on the hub's recent data.

The preview runs the real ``Summariser`` (and so the real consent gate and outbox encoding) against a
scratch ledger in memory that holds only the proposed grant, backdated so that exactly one recent
window is closed. What it shows is therefore what the hub would queue for that window, byte for byte
apart from the sequence number; nothing is written to the hub's ledger.
"""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass
from typing import Any

import msgspec

from agent.consent import outbox
from agent.consent.dp import DpPolicy, NoisySummary
from agent.consent.gate import topic_for
from agent.consent.grants import MARKET, Grant
from agent.consent.ledger import add_grant
from agent.consent.receipts import receipt_for
from agent.store import queries
from agent.store.ledger import MIGRATIONS
from agent.sync.summariser import RAW_PER_MESSAGE, Summariser

# Events and raw readings are previewed over the last such span of data.
STREAM_SPAN_S = 600.0
SHOWN_MESSAGES = 3


@dataclass(frozen=True)
class Preview:
    """The plain-language preview of one proposed grant."""

    grant: Grant
    streams: list[str]  # the hub's streams the grant's strands name today
    how_often: str
    window: tuple[float, float]  # the span of data the example covers
    messages: list[dict[str, Any]]  # example payloads as the recipient would receive them
    topics: list[str]
    # For a noised grant: how far off the first example's mean typically is (one standard deviation of
    # the noise), and the number of readings that figure is for.
    expected_error: float | None = None
    error_readings: int = 0


def how_often(grant: Grant) -> str:
    """When messages leave, in plain words."""
    grain = grant.grain
    if grain.kind == "summary" and grain.window_s is not None and grant.dp is not None:
        return (
            f"one message per strand every {grant.granularity.partition(':')[2]}, with a noised count and "
            f"mean ({describe_policy(grant.dp)})"
        )
    if grain.kind == "summary" and grain.window_s is not None:
        return (
            f"one message per strand every {grant.granularity.partition(':')[2]}, with the count, mean, "
            "minimum and maximum of that window"
        )
    if grain.kind == "events":
        return "one message each time a strand's label changes"
    return f"every single reading, in batches of up to {RAW_PER_MESSAGE}"


def preview_window(grant: Grant, *, now: float, lag_s: float) -> tuple[float, float]:
    """The span of data the preview uses: the newest closed window (or recent span for events/raw)."""
    window_s = grant.grain.window_s
    horizon = now - lag_s
    if window_s is not None:
        end = math.floor(horizon / window_s) * window_s
        return end - window_s, end
    return horizon - STREAM_SPAN_S, horizon


def preview(
    readings: sqlite3.Connection, grant: Grant, *, hub_id: str, prefix: str, now: float, lag_s: float
) -> Preview:
    """Run the summariser once for ``grant`` over its preview window and return what it queued."""
    start, end = preview_window(grant, now=now, lag_s=lag_s)
    scratch = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    try:
        for script in MIGRATIONS:
            scratch.executescript(script)
        trial = msgspec.structs.replace(grant, created_at=start, expires_at=None)
        add_grant(scratch, trial, receipt_for(trial, hub_id=hub_id))
        summariser = Summariser(
            scratch, readings, hub_id=hub_id, prefix=prefix, ttl_s=3600.0, cap=10_000_000, lag_s=0.0
        )
        summariser.step(end)
        rows = outbox.queued_messages(scratch)
    finally:
        scratch.close()
    streams = queries.stream_names(readings)
    messages = [json.loads(payload) for _, payload in rows[:SHOWN_MESSAGES]]
    expected, counted = None, 0
    if grant.dp is not None and messages:
        ref = queries.stream_named(readings, messages[0]["stream"])
        if ref is not None:
            counted = len(queries.rows_between(readings, ref.id, start=start, end=end, limit=-1))
            expected = NoisySummary(grant.dp).typical_error(counted)
    covered = [s for s in streams if grant.covers(s)]
    # Every strand it names goes to its topic, whether or not the example window held data for it; the
    # market's grants are shown only inside intents, never sent upstream.
    upstream = [] if grant.recipient == MARKET else covered
    topics = {topic for topic, _ in rows} | {topic_for(prefix, hub_id, grant.recipient, s) for s in upstream}
    return Preview(
        grant=grant,
        streams=covered,
        how_often=how_often(grant),
        window=(start, end),
        messages=messages,
        topics=sorted(topics),
        expected_error=expected,
        error_readings=counted,
    )


def describe_policy(policy: DpPolicy) -> str:
    """The noise in plain words: mechanism, loss per message, bounds and the budget."""
    period = {3600.0: "hour", 86400.0: "day", 604800.0: "week"}.get(policy.period_s, f"{policy.period_s:g} s")
    return (
        f"{policy.mechanism} noise, {policy.unit} {policy.per_release:g} per message, values clamped to"
        f" {policy.lower:g}..{policy.upper:g}, at most {policy.cap:g} {policy.unit} per {period}"
        " for this recipient"
    )
