"""Where consented data goes: the upstream broker and topics a receipt names, and how that changed.

The destination comes from ``[upstream]``; a fleet push can change it only to exactly what the hub's
owner allowed in ``[fleet.allow]`` (``agent.fleet.verify``), and each such change is in the audit log
(kind ``destination``), as is each one a signed push tried and was refused, so ``hearth consent list``
shows them next to the grants.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, NamedTuple

from agent.config.clock import HubClock
from agent.config.schema import Config
from agent.connection import port_of
from agent.consent.grants import Grant
from agent.consent.ledger import audit_of_kind
from agent.consent.receipts import receipt_for

KIND = "destination"


class Destination(NamedTuple):
    """The upstream broker (``mqtts://host:port``) and the topic root under which a hub's data goes."""

    broker: str
    topic_root: str  # <topic_prefix>/<hub id>

    def topic(self, recipient: str) -> str:
        """The topics one recipient's data goes to, with ``<strand>`` for the strand's name."""
        return f"{self.topic_root}/{recipient}/<strand>"


def upstream_destination(config: Config) -> Destination | None:
    """Where ``config`` sends consented data (None without ``[upstream]``: nothing leaves)."""
    up = config.upstream
    if up is None:
        return None
    scheme = "mqtts" if up.tls else "mqtt"
    return Destination(f"{scheme}://{up.host}:{port_of(up)}", f"{up.topic_prefix}/{config.hub.id}")


class Moved(NamedTuple):
    """One audited change of where data goes."""

    ts: float
    key: str
    before: Any
    after: Any
    version: int | None
    rolled_back: bool
    refused: bool  # a signed push tried it and was rejected: it never took effect


def hub_receipt(grant: Grant, config: Config) -> dict[str, Any]:
    """The receipt of ``grant`` on the hub ``config`` describes, naming its upstream destination.

    It lives here, not with the receipts, because the destination reads the ledger, which stores receipts.
    """
    return receipt_for(
        grant, hub_id=config.hub.id, hub_name=config.hub.name, destination=upstream_destination(config)
    )


def history(ledger: sqlite3.Connection) -> list[Moved]:
    """Every audited change of where data goes, oldest first."""
    out = []
    for entry in audit_of_kind(ledger, KIND):
        detail = json.loads(entry.detail)
        out.append(
            Moved(
                entry.ts,
                str(detail["key"]),
                detail.get("from"),
                detail.get("to"),
                detail.get("version"),
                bool(detail.get("rolled_back", False)),
                bool(detail.get("refused", False)),
            )
        )
    return out


def lines(config: Config, moves: list[Moved]) -> list[str]:
    """What ``hearth consent list`` says under the grants: where data goes, and every audited change."""
    where = upstream_destination(config)
    out = [
        f"consented data goes to {where.broker}, topics {where.topic('<recipient>')}"
        if where is not None
        else "no upstream broker is configured: nothing leaves this hub"
    ]
    clock = HubClock.of(config)
    for move in moves:
        at = clock.stamp(move.ts)
        change = f"{move.key}: {_shown(move.before)} -> {_shown(move.after)}"
        if move.refused:
            out.append(f"  {at} fleet push v{move.version} tried to change {change} (refused: not allowed)")
        else:
            how = "rolled back" if move.rolled_back else "allowed by the owner ([fleet.allow])"
            out.append(f"  {at} fleet push v{move.version} changed {change} ({how})")
    return out


def _shown(value: Any) -> str:
    return "unset" if value is None else json.dumps(value, ensure_ascii=False)
