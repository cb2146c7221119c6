"""Consent receipts, modelled on the Kantara Consent Receipt 1.1 and the ISO/IEC TS 27560 record.

The receipt is what the owner keeps: who receives what, for which purpose, at which granularity,
until when, where it is sent (broker and topics, as when the grant was given), and how to withdraw.
It is plain JSON so any tool can read it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from agent.consent.dp import DpPolicy, describe
from agent.consent.grants import Grant

if TYPE_CHECKING:
    from agent.consent.destination import Destination

SCHEMA = "hearth-consent-receipt/1 (Kantara CR v1.1, ISO/IEC TS 27560)"


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def receipt_for(
    grant: Grant,
    *,
    hub_id: str,
    hub_name: str = "",
    jurisdiction: str = "",
    destination: Destination | None = None,
) -> dict[str, Any]:
    """The consent receipt of ``grant`` as a JSON-ready mapping; ``destination`` None: no upstream yet."""
    return {
        "schemaVersion": SCHEMA,
        "version": "KI-CR-v1.1.0",
        "recordId": f"receipt-{grant.id}",
        "consentReceiptID": f"receipt-{grant.id}",
        "jurisdiction": jurisdiction,
        "consentTimestamp": int(grant.created_at),
        "collectionMethod": "owner on the hub (hearth consent grant)",
        "language": "en",
        "piiPrincipalId": "owner of hub " + hub_id,
        "piiControllers": [{"piiController": f"hub {hub_id} {hub_name}".strip(), "onBehalf": False}],
        "services": [
            {
                "service": "upstream sync over MQTT",
                "purposes": [
                    {
                        "purpose": grant.purpose,
                        "consentType": "EXPLICIT",
                        "piiCategory": list(grant.strands),
                        "primaryPurpose": True,
                        "termination": _iso(grant.expires_at) or "until withdrawn",
                        "thirdPartyDisclosure": True,
                        "thirdPartyName": grant.recipient,
                    }
                ],
            }
        ],
        "sensitive": False,
        "spiCat": [],
        "notice": {"granularity": grant.granularity, "precision": grant.precision},
        "processing": {
            "recipient": grant.recipient,
            "strands": list(grant.strands),
            "granularity": grant.granularity,
            "precision_decimal_places": grant.precision,
            **({} if grant.dp is None else {"differential_privacy": _privacy(grant.dp, grant.recipient)}),
        },
        "destination": _destination(destination, grant.recipient),
        "event": {"state": "given", "time": _iso(grant.created_at), "expires": _iso(grant.expires_at)},
        "withdrawal": f"hearth consent revoke {grant.id}",
        "grantId": grant.id,
    }


def _privacy(policy: DpPolicy, recipient: str) -> dict[str, Any]:
    """The noise policy in the receipt: mechanism, loss per release, bounds, and the cap per period."""
    return {
        **describe(policy),
        "cap_applies_to": f"every noisy release to {recipient}, per period",
        "privacy_unit": "one reading per window (one person contributing one reading to each window)",
        "released": "noisy count and noisy mean of values clamped to the bounds; no min or max",
    }


def _destination(destination: Destination | None, recipient: str) -> dict[str, Any]:
    if destination is None:
        return {"broker": None, "topics": None, "note": "no upstream broker is configured: nothing is sent"}
    return {
        "broker": destination.broker,
        "topics": destination.topic(recipient),
        "note": "a change of broker or topics is shown by hearth consent list and kept in the audit log",
    }


def dumps(receipt: dict[str, Any]) -> str:
    """Canonical JSON of a receipt (sorted keys), as stored and exported."""
    return json.dumps(receipt, sort_keys=True, ensure_ascii=False, indent=2)
