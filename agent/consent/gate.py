"""The consent gate: the only function that turns data into an upstream message.

Pure: a candidate message and the grant it claims are in, an ``Admitted`` message or a refusal out.
``agent.consent.outbox`` accepts nothing but ``Admitted`` values, so no other path reaches the broker.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from agent.consent.grants import Grant
from agent.consent.granularity import rounded

_ROUNDED = ("mean", "min", "max", "value")


class Admitted(NamedTuple):
    """A message the gate let through, not yet numbered (the outbox assigns the sequence number)."""

    grant_id: str | None
    recipient: str
    stream: str
    kind: str  # summary | events | raw | erasure
    topic: str
    body: dict[str, Any]


class Refused(NamedTuple):
    """Why the gate stopped a candidate."""

    reason: str


def topic_for(prefix: str, hub_id: str, recipient: str, stream: str) -> str:
    """``<prefix>/<hub>/<recipient>/<stream>``: one topic per recipient and strand."""
    return f"{prefix}/{hub_id}/{recipient}/{stream}"


def status_topic(prefix: str, hub_id: str) -> str:
    """The hub's retained online/offline topic (also its last will)."""
    return f"{prefix}/{hub_id}/status"


def admit(
    grant: Grant | None,
    *,
    revoked: bool,
    now: float,
    stream: str,
    kind: str,
    body: dict[str, Any],
    data_start: float,
    data_end: float,
    hub_id: str,
    prefix: str,
) -> Admitted | Refused:
    """Admit ``body`` (data of ``stream`` in [data_start, data_end)) under ``grant``, rounded as granted."""
    if grant is None:
        return Refused("no such grant")
    grain = grant.grain
    checks = (
        (revoked, f"grant {grant.id} was revoked"),
        (
            grant.expired(now) or (grant.expires_at is not None and data_end > grant.expires_at),
            f"grant {grant.id} has expired",
        ),
        (data_start < grant.created_at, f"data from before grant {grant.id} was given"),
        (not grant.covers(stream), f"grant {grant.id} does not cover {stream}"),
        (grain.kind != kind, f"grant {grant.id} allows {grant.granularity}, not {kind}"),
        (
            kind == "summary"
            and abs(body.get("end", 0) - body.get("start", 0) - (grain.window_s or 0)) > 1e-6,
            f"summary window does not match {grant.granularity}",
        ),
        (grant.dp is not None and "dp" not in body, f"grant {grant.id} lets only noisy summaries leave"),
    )
    reason = next((why for failed, why in checks if failed), None)
    if reason is not None:
        return Refused(reason)
    out = dict(body)
    for key in _ROUNDED:
        if key in out and isinstance(out[key], float):
            out[key] = rounded(out[key], grant.precision)
    if "readings" in out:
        out["readings"] = [[ts, rounded(v, grant.precision), label] for ts, v, label in out["readings"]]
    out.update(stream=stream, grant=grant.id, granularity=grant.granularity)
    return Admitted(
        grant.id, grant.recipient, stream, kind, topic_for(prefix, hub_id, grant.recipient, stream), out
    )


def admit_erasure(
    *, recipient: str, stream: str, received: bool, now: float, hub_id: str, prefix: str
) -> Admitted | Refused:
    """An erasure request for ``stream`` to ``recipient``, only if that recipient ever received it."""
    if not received:
        return Refused(f"{recipient} never received {stream}")
    body = {"request": "erase", "stream": stream, "requested_at": now}
    return Admitted(
        None, recipient, stream, "erasure", topic_for(prefix, hub_id, recipient, "_erasure"), body
    )
