"""Finding audit entries by kind, by whom they concern, by strand and by time, a page at a time."""

from __future__ import annotations

import json

from agent.consent.ledger import append_audit, audit_count, audit_matching
from agent.store.sqlite import transaction

from .conftest import T0, LocalHub


def _fill(hub: LocalHub) -> str:
    grant = hub.grant("coop", ["kitchen.power"], "summary:1h")  # audited as kind "grant"
    with transaction(hub.ledger, immediate=True):
        append_audit(
            hub.ledger,
            [
                (T0 + 10, "publish", {"grant": grant.id, "recipient": "coop", "stream": "kitchen.power"}),
                (T0 + 20, "publish", {"grant": "g-other", "recipient": "grid", "stream": "hall.temp"}),
                (T0 + 30, "erasure", {"pattern": "kitchen.*", "streams": ["kitchen.power"]}),
                (T0 + 40, "expire", {"grants": [grant.id]}),
            ],
        )
    return grant.id


def _kinds(found: tuple[list[tuple[int, float, str, str]], int]) -> list[str]:
    return [kind for _, _, kind, _ in found[0]]


def test_every_filter_narrows_what_is_found(hub: LocalHub) -> None:
    grant_id = _fill(hub)
    total = audit_count(hub.ledger)
    everything = audit_matching(hub.ledger, limit=100)
    assert everything[1] == total == 5
    assert _kinds(everything) == ["expire", "erasure", "publish", "publish", "grant"]  # newest first
    assert _kinds(audit_matching(hub.ledger, kind="publish", limit=100)) == ["publish", "publish"]
    # By recipient (its grant, its publishes), or by grant id, also where a list of grants names it.
    assert _kinds(audit_matching(hub.ledger, who="coop", limit=100)) == ["publish", "grant"]
    assert _kinds(audit_matching(hub.ledger, who=grant_id, limit=100)) == ["expire", "publish", "grant"]
    kitchen = audit_matching(hub.ledger, strand="kitchen.power", limit=100)
    assert _kinds(kitchen) == ["erasure", "publish", "grant"]
    window = audit_matching(hub.ledger, since=T0 + 10, until=T0 + 30, limit=100)
    assert [json.loads(d).get("recipient") for _, _, _, d in window[0]] == ["grid", "coop"]


def test_a_page_is_limit_entries_from_offset_and_the_total_counts_them_all(hub: LocalHub) -> None:
    _fill(hub)
    page, total = audit_matching(hub.ledger, limit=2, offset=2)
    assert total == 5
    assert [kind for _, _, kind, _ in page] == ["publish", "publish"]
    assert audit_matching(hub.ledger, limit=2, offset=10) == ([], 5)
