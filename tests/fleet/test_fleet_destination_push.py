"""Destinations on a running hub: a push adding a sink is rejected and audited, and nothing reaches the sink;
a change the owner allowed is applied, audited next to the grants, and named by the receipts given after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fleet_support import PLUG, push_to_hub, restarting, running, upstream, watching, write_hub

from agent.store.ledger import open_ledger
from tests.conftest import hearth
from tests.testbed.wait import eventually


@contextlib.asynccontextmanager
async def topics_seen(port: int) -> AsyncIterator[list[str]]:
    """Every topic published on the broker at ``port`` while the block runs (a subscriber on ``#``)."""
    seen: list[str] = []
    ready = asyncio.Event()

    async def follow() -> None:
        async with aiomqtt.Client("127.0.0.1", port) as client:
            await client.subscribe("#", qos=1)
            ready.set()
            async for message in client.messages:
                seen.append(str(message.topic))

    task = asyncio.create_task(follow(), name="subscriber")
    await eventually(lambda: ready.is_set() or task.done(), "the subscriber on # to subscribe")
    try:
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _audit(path: Path, kind: str) -> list[dict[str, object]]:
    conn = sqlite3.connect(path.parent / "data" / "ledger.db")
    try:
        rows = conn.execute("SELECT detail FROM audit_log WHERE kind = ? ORDER BY seq", (kind,)).fetchall()
    finally:
        conn.close()
    return [json.loads(detail) for (detail,) in rows]


async def test_a_push_adding_a_local_broker_is_rejected_audited_and_sends_it_nothing(
    tmp_path: Path, broker: int, fleet_key: Ed25519PrivateKey
) -> None:
    path = write_hub(tmp_path, "hub-l", key=fleet_key, port=broker)
    provisioned = path.read_text()
    # The fleet's own broker would do as the sink: it is up, and Home Assistant would be listening there.
    sink = PLUG + f'\n[local_mqtt]\nhost = "127.0.0.1"\nport = {broker}\n'
    async with (
        topics_seen(broker) as seen,
        watching(broker) as watcher,
        running([path]) as (hub,),
    ):
        await push_to_hub(broker, fleet_key, "hub-l", sink, version=1)
        await watcher.wait_for(["hub-l"], "rejected", 1)
        reason = watcher.reports["hub-l"].reason
        assert reason == (
            "a push cannot change where data goes: [local_mqtt] added "
            "(only the hub's owner can allow that, in [fleet.allow])"
        )
        assert hub.agent.config.local_mqtt is None
        await eventually(lambda: hub.agent.recorder.committed > 0, "the hub recording on")
        # A normal push right after it still applies.
        await push_to_hub(broker, fleet_key, "hub-l", PLUG.replace("rate = 50", "rate = 40"), version=2)
        await watcher.wait_for(["hub-l"], "applied", 2)
    assert not [t for t in seen if t.startswith(("homeassistant/", "hearth/hub-l/"))]
    assert "[local_mqtt]" not in path.read_text()
    assert provisioned != path.read_text()  # v2 went in
    shown = hearth("fleet", "history", "-c", str(path))
    assert shown.returncode == 0, shown.stderr
    assert "[local_mqtt] added" in shown.stdout
    # Signed by the fleet, so the attempt is in the owner's audit log too, and shown beside the grants.
    tried = _audit(path, "destination")
    assert {(d["key"], d["to"], d["version"], d["refused"]) for d in tried} == {
        ("[local_mqtt]", True, 1, True),
        ("local_mqtt.host", "127.0.0.1", 1, True),
        ("local_mqtt.port", broker, 1, True),
    }
    listed = hearth("consent", "list", "-c", str(path))
    assert (
        'fleet push v1 tried to change local_mqtt.host: "localhost" -> "127.0.0.1" (refused' in listed.stdout
    )


async def test_an_upstream_change_the_owner_allowed_is_applied_audited_and_named_by_receipts(
    tmp_path: Path, broker: int, fleet_key: Ed25519PrivateKey
) -> None:
    allow = 'allow = { upstream = { topic_prefix = "coop/v2" } }'
    path = write_hub(tmp_path, "hub-p", key=fleet_key, port=broker, allow=allow)
    path.write_text(path.read_text() + upstream(broker))
    given = hearth(
        "consent", "grant", "-c", str(path), "--recipient", "coop", "--purpose", "energy advice",
        "--strand", "plug.power", "--granularity", "summary:1s",
    )  # fmt: skip
    assert given.returncode == 0, given.stderr
    before = json.loads(hearth("consent", "receipt", "-c", str(path), given.stdout.split()[1][:-1]).stdout)
    assert before["destination"]["broker"] == f"mqtt://127.0.0.1:{broker}"
    assert before["destination"]["topics"] == "hearth/v1/hub-p/coop/<strand>"
    async with topics_seen(broker) as seen, watching(broker) as watcher, restarting(path):
        await eventually(lambda: "hearth/v1/hub-p/coop/plug.power" in seen, "a summary under the old prefix")
        moved = PLUG + upstream(broker) + 'topic_prefix = "coop/v2"\n'
        await push_to_hub(broker, fleet_key, "hub-p", moved, version=1)
        await watcher.wait_for(["hub-p"], "applied", 1)
        await eventually(lambda: "coop/v2/hub-p/coop/plug.power" in seen, "a summary under the new prefix")
        # Refused: the owner allowed that prefix, not this one.
        await push_to_hub(broker, fleet_key, "hub-p", moved.replace("coop/v2", "coop/v3"), version=2)
        await watcher.wait_for(["hub-p"], "rejected", 2)
        assert "upstream.topic_prefix" in watcher.reports["hub-p"].reason
    assert not [t for t in seen if t.startswith("coop/v3")]
    change, tried = _audit(path, "destination")
    assert tried["to"] == "coop/v3"
    assert tried["refused"] is True
    assert change == {
        "key": "upstream.topic_prefix",
        "from": "hearth/v1",
        "to": "coop/v2",
        "version": 1,
        "sha256": change["sha256"],
        "allowed_by": "fleet.allow",
    }
    ledger = open_ledger(path.parent / "data")
    try:
        from agent.consent.ledger import verify_audit

        assert verify_audit(ledger) == []
    finally:
        ledger.close()
    listed = hearth("consent", "list", "-c", str(path))
    assert listed.returncode == 0, listed.stderr
    assert f"consented data goes to mqtt://127.0.0.1:{broker}, topics coop/v2/hub-p/<recipient>/<strand>" in (
        listed.stdout
    )
    assert 'fleet push v1 changed upstream.topic_prefix: "hearth/v1" -> "coop/v2"' in listed.stdout
    later = hearth(
        "consent", "grant", "-c", str(path), "--recipient", "insurer", "--purpose", "cover",
        "--strand", "plug.*", "--granularity", "summary:1h",
    )  # fmt: skip
    receipt = json.loads(hearth("consent", "receipt", "-c", str(path), later.stdout.split()[1][:-1]).stdout)
    assert receipt["destination"]["topics"] == "coop/v2/hub-p/insurer/<strand>"
