"""Upstream against a real Mosquitto: only granted strands leave, at the granted granularity, in order."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from agent.consent import outbox
from agent.consent.ledger import revoke

from .conftest import HUB, PREFIX, T0, Broker, Hub, Seen, run_publisher, stop_publisher


async def test_subscriber_sees_only_granted_strands_at_the_granted_granularity(
    hub: Hub, broker: Broker, subscriber: Seen
) -> None:
    points = [(T0 + i, 20.0 + (i % 10) / 7) for i in range(120)]
    for stream in (
        "living_room.temperature",
        "living_room.humidity",
        "kitchen_plug.power",
        "bedroom.temperature",
    ):
        hub.record(stream, points)
    temp = hub.grant("coop", ["living_room.temperature"], "summary:10s", precision=1)
    hub.grant("insurer", ["kitchen_plug.*"], "summary:1m")
    gone = hub.grant("nosy", ["bedroom.temperature"], "summary:10s")
    revoke(hub.ledger, gone.id, now=T0 + 1)
    hub.summariser.step(T0 + 200)
    publisher = hub.publisher(broker.port)
    task = await run_publisher(publisher)
    try:
        await subscriber.until(lambda: len(subscriber.data()) == 12 + 2)
        await subscriber.until(lambda: outbox.depth(hub.ledger) == 0)
    finally:
        await stop_publisher(publisher, task)
    await subscriber.until(lambda: subscriber.messages[-1][1] == b"offline")
    topics = {t for t, _, _ in subscriber.messages}
    assert topics == {
        f"{PREFIX}/{HUB}/status",
        f"{PREFIX}/{HUB}/coop/living_room.temperature",
        f"{PREFIX}/{HUB}/insurer/kitchen_plug.power",
    }
    coop = [m for m in subscriber.data() if m["grant"] == temp.id]
    assert len(coop) == 12
    for message in coop:
        assert set(message) == {
            "count",
            "end",
            "grant",
            "granularity",
            "hub",
            "kind",
            "max",
            "mean",
            "min",
            "seq",
            "start",
            "stream",
            "unit",
        }
        assert message["end"] - message["start"] == 10
        assert message["count"] == 10
        assert message["mean"] == round(message["mean"], 1)
    insurer = [m for m in subscriber.data() if m["stream"] == "kitchen_plug.power"]
    # T0 is 20 s into a minute: whole minutes only, from the first one after the grant.
    assert [(m["start"] - T0, m["count"]) for m in insurer] == [(40, 60), (100, 20)]
    seqs = [m["seq"] for m in subscriber.data()]
    assert seqs == sorted(seqs)
    statuses = [(p, r) for t, p, r in subscriber.messages if t.endswith("/status")]
    assert statuses[0] == (b"online", False)
    assert statuses[-1] == (b"offline", False)


async def test_nothing_leaves_without_a_grant(hub: Hub, broker: Broker, subscriber: Seen) -> None:
    hub.record("living_room.temperature", [(T0 + i, 20.0) for i in range(100)])
    hub.summariser.step(T0 + 200)
    assert outbox.depth(hub.ledger) == 0
    publisher = hub.publisher(broker.port)
    task = await run_publisher(publisher)
    try:
        await asyncio.wait_for(publisher.connected.wait(), 10)
        await subscriber.until(lambda: any(t.endswith("/status") for t, _, _ in subscriber.messages))
    finally:
        await stop_publisher(publisher, task)
    assert subscriber.data() == []


async def test_revocation_purges_queued_messages_unsent(hub: Hub, broker: Broker, subscriber: Seen) -> None:
    hub.record("living_room.temperature", [(T0 + i, 20.0) for i in range(100)])
    grant = hub.grant("coop", ["living_room.temperature"], "summary:10s")
    hub.summariser.step(T0 + 200)
    assert outbox.depth(hub.ledger) == 10
    assert revoke(hub.ledger, grant.id, now=T0 + 201) == 10
    hub.record("living_room.temperature", [(T0 + 100 + i, 20.0) for i in range(100)])
    hub.summariser.step(T0 + 400)
    assert outbox.depth(hub.ledger) == 0
    publisher = hub.publisher(broker.port)
    task = await run_publisher(publisher)
    try:
        await asyncio.wait_for(publisher.connected.wait(), 10)
    finally:
        await stop_publisher(publisher, task)
    assert subscriber.data() == []


async def test_oversized_message_is_set_aside_without_blocking_the_rest(tmp_path, hub: Hub) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "small-broker"
    folder.mkdir()
    small = Broker(folder, "max_packet_size 2000\n")
    small.start()
    seen = Seen()
    from .conftest import subscribe

    sub = asyncio.create_task(subscribe(small.port, seen))
    try:
        await asyncio.wait_for(seen.ready.wait(), 10)
        hub.record("living_room.temperature", [(T0 + i, 20.0) for i in range(30)])
        hub.record("kitchen_plug.power", [(T0 + i, 1500.0 + i) for i in range(600)])
        hub.grant("coop", ["living_room.temperature"], "summary:10s")
        hub.grant("lab", ["kitchen_plug.power"], "raw", allow_raw=True)
        hub.summariser.step(T0 + 700)
        queued = outbox.depth(hub.ledger)
        publisher = hub.publisher(small.port)
        task = await run_publisher(publisher)
        try:
            await seen.until(lambda: outbox.depth(hub.ledger) == 0)
            await seen.until(lambda: len(seen.data()) == queued - 2)
        finally:
            await stop_publisher(publisher, task)
    finally:
        sub.cancel()
        small.stop()
    aside = hub.ledger.execute("SELECT reason FROM outbox_set_aside").fetchall()
    assert len(aside) == 2  # two raw chunks of 500 and 100 readings, each over 2000 bytes
    assert all("maximum packet size 2000" in r for (r,) in aside)
    assert [m["stream"] for m in seen.data()] == ["living_room.temperature"] * (queued - 2)
    drops = [json.loads(d) for (d,) in hub.ledger.execute("SELECT detail FROM audit_log WHERE kind = 'drop'")]
    assert len(drops) == 2
    assert all(d["reason"] == "refused" for d in drops)


async def test_the_password_never_reaches_the_logs(
    hub: Hub, broker: Broker, subscriber: Seen, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="agent.sync.paho")
    hub.record("living_room.temperature", [(T0 + i, 20.0) for i in range(20)])
    hub.grant("coop", ["living_room.temperature"], "summary:10s")
    hub.summariser.step(T0 + 100)
    publisher = hub.publisher(broker.port, username="hub", password="pa55-word-never-logged")
    task = await run_publisher(publisher)
    try:
        await subscriber.until(lambda: len(subscriber.data()) == 2)
    finally:
        await stop_publisher(publisher, task)
    assert "Sending CONNECT" in caplog.text
    assert "pa55-word" not in caplog.text
