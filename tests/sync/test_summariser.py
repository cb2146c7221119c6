"""The summariser: windows closed by time, never skipped or doubled across restarts; events; expiry."""

from __future__ import annotations

import json

from agent.consent import outbox
from agent.consent.ledger import grants
from agent.readings import Reading, StreamInfo

from .conftest import T0, Hub


def _bodies(hub: Hub) -> list[dict[str, object]]:
    return [json.loads(r.payload) for r in outbox.next_batch(hub.ledger, after=0, limit=10_000, now=T0)]


def test_windows_are_neither_skipped_nor_doubled_across_steps_and_restarts(hub: Hub) -> None:
    hub.grant("coop", ["living_room.temperature"], "summary:10s")
    hub.record("living_room.temperature", [(T0 + i, float(i)) for i in range(35)])
    hub.summariser.step(T0 + 25)  # windows [0,10) and [10,20) are closed; [20,30) is not
    assert [b["start"] for b in _bodies(hub)] == [T0, T0 + 10]
    hub.summariser.step(T0 + 25)
    assert len(_bodies(hub)) == 2
    hub.close()
    reopened = Hub(hub.data_dir)
    try:
        reopened.summariser.step(T0 + 40)
        bodies = _bodies(reopened)
    finally:
        reopened.close()
    assert [(b["start"] - T0, b["count"], b["mean"]) for b in bodies] == [
        (0, 10, 4.5),
        (10, 10, 14.5),
        (20, 10, 24.5),
        (30, 5, 32.0),
    ]
    assert [b["seq"] for b in bodies] == [1, 2, 3, 4]


def test_events_send_only_context_changes(hub: Hub) -> None:
    hub.grant("coop", ["context.activity"], "events")
    labels = ["still"] * 5 + ["walking"] * 3 + ["still"] * 4
    hub.store.write_batch(
        [Reading("context.activity", T0 + 1 + i, 0.9, label) for i, label in enumerate(labels)],
        [("inference", StreamInfo.of("context", "activity", kind="context"))],
    )
    hub.summariser.step(T0 + 100)
    assert [(b["label"], b["previous"]) for b in _bodies(hub)] == [
        ("still", None),
        ("walking", "still"),
        ("still", "walking"),
    ]


def test_expiry_purges_queued_messages_and_is_audited(hub: Hub) -> None:
    grant = hub.grant("coop", ["living_room.temperature"], "summary:10s", expires_at=T0 + 30)
    hub.record("living_room.temperature", [(T0 + i, 20.0) for i in range(100)])
    hub.summariser.step(T0 + 25)
    assert outbox.depth(hub.ledger) == 2
    result = hub.summariser.step(T0 + 200)
    assert result.ended == [(grant.id, 2)]
    assert outbox.depth(hub.ledger) == 0
    assert grants(hub.ledger, now=T0 + 200)[0].status == "expired"
    (detail,) = hub.ledger.execute("SELECT detail FROM audit_log WHERE kind = 'expire'").fetchone()
    assert json.loads(detail) == {"grant": grant.id, "purged_unsent": 2}


def test_cap_drops_the_oldest_and_says_so(tmp_path) -> None:  # type: ignore[no-untyped-def]
    hub = Hub(tmp_path / "capped", cap=10)
    try:
        hub.grant("coop", ["living_room.temperature"], "summary:10s")
        hub.record("living_room.temperature", [(T0 + i, 20.0) for i in range(300)])
        result = hub.summariser.step(T0 + 400)
        assert result.dropped_cap == 20
        assert [b["seq"] for b in _bodies(hub)] == list(range(21, 31))
        (detail,) = hub.ledger.execute("SELECT detail FROM audit_log WHERE kind = 'drop'").fetchone()
        assert json.loads(detail)["first_seq"] == 1
        assert json.loads(detail)["last_seq"] == 20
    finally:
        hub.close()
