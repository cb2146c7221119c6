"""docs/upstream-messages.md stays true: each kind of message has exactly the fields the document lists."""

from __future__ import annotations

import json
import re

from agent.consent import outbox
from agent.consent.passport import forget
from agent.readings import Reading, StreamInfo
from tests.conftest import REPO

from .conftest import HUB, PREFIX, T0, Hub

DOC = (REPO / "docs" / "upstream-messages.md").read_text(encoding="utf-8")


def _fields(heading: str) -> set[str]:
    """The names in the first column of the first table after ``heading``."""
    after = DOC.split(heading, 1)[1]
    table = after[after.index("\n|") :].split("\n\n", 1)[0]
    names: set[str] = set()
    for row in table.strip().splitlines()[2:]:
        names |= set(re.findall(r"`([^`]+)`", row.split("|")[1]))
    return names


def test_every_message_kind_has_exactly_the_documented_fields(hub: Hub) -> None:
    hub.record("living_room.temperature", [(T0 + i, 20.0 + i / 10) for i in range(30)])
    hub.store.write_batch(
        [Reading("context.activity", T0 + i, 0.8, "still" if i < 5 else "walking") for i in range(10)],
        [("inference", StreamInfo.of("context", "activity", kind="context"))],
    )
    hub.grant("coop", ["living_room.temperature"], "summary:10s", precision=1)
    hub.grant("coop", ["context.activity"], "events")
    hub.grant("coop", ["living_room.*"], "raw", allow_raw=True)
    hub.summariser.step(T0 + 60)
    rows = outbox.next_batch(hub.ledger, after=0, limit=100, now=T0)
    outbox.acknowledged(hub.ledger, rows, now=T0 + 61)  # as if the broker took them: they were received
    forget(
        hub.store,
        hub.ledger,
        "living_room.temperature",
        hub_id=HUB,
        prefix=PREFIX,
        ttl_s=3600,
        cap=1000,
        now=T0 + 70,
    )
    rows += outbox.next_batch(hub.ledger, after=0, limit=100, now=T0)
    by_kind = {json.loads(r.payload)["kind"]: (r.topic, json.loads(r.payload)) for r in rows}
    assert set(by_kind) == {"summary", "events", "raw", "erasure"}
    common = _fields("Fields of every data message")
    for kind in ("summary", "events", "raw"):
        topic, body = by_kind[kind]
        assert set(body) == common | _fields(f"### `{kind}`"), kind
        assert topic == f"{PREFIX}/{HUB}/coop/{body['stream']}"
    topic, body = by_kind["erasure"]
    assert set(body) == _fields("### Erasure requests")
    assert topic == f"{PREFIX}/{HUB}/coop/_erasure"


def test_a_noised_summary_has_exactly_the_documented_fields(hub: Hub) -> None:
    from agent.consent.dp import DpPolicy

    hub.record("living_room.temperature", [(T0 + i, 20.0 + i / 10) for i in range(30)])
    hub.grant(
        "coop", ["living_room.temperature"], "summary:10s", dp=DpPolicy("laplace", 1.0, 0.0, 40.0, cap=9.0)
    )
    hub.summariser.step(T0 + 60)
    (row, *_) = outbox.next_batch(hub.ledger, after=0, limit=100, now=T0)
    body = json.loads(row.payload)
    assert set(body) == _fields("Fields of every data message") | _fields("### Noised `summary`")
    documented = DOC.split("### Noised `summary`", 1)[1].split("###", 1)[0]
    for key in body["dp"]:
        assert f"`{key}`" in documented, key
