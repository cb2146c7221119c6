"""The in-process fake broker link and the real aiomqtt link behave alike for the publisher.

The state machine runs against the fake; these scenarios run against both, so the fake cannot
drift from what a real Mosquitto does.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.backoff import Backoff
from agent.consent import outbox
from agent.store.ledger import open_ledger
from agent.store.worker import LedgerWorker
from agent.sync.link import Connector, FakeBroker, FakeConnector
from agent.sync.mqtt import MqttConnector, MqttSettings
from agent.sync.publisher import Publisher

from .conftest import HUB, PREFIX, T0, Broker, Hub, Seen, subscribe

STATUS = f"{PREFIX}/{HUB}/status"
REFUSED = f"{PREFIX}/{HUB}/insurer/bedroom.temperature"


@dataclass
class Backend:
    """A connector and a way to read back what the broker passed on."""

    connector: Connector
    delivered: list[tuple[str, bytes]]
    wait: Seen | None


def _readable_folder() -> Path:
    """A folder with an ACL denying REFUSED; Mosquitto reads it as its own user, not root."""
    folder = Path(tempfile.mkdtemp(prefix="hearth-test-acl-"))
    folder.chmod(0o755)
    acl = folder / "acl"
    acl.write_text(f"topic readwrite #\ntopic deny {REFUSED}\n")
    acl.chmod(0o644)
    return folder


@pytest.fixture(params=["fake", "mosquitto"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "fake":
        fake = FakeBroker(max_packet_size=2000, refuse_topics={REFUSED})
        yield Backend(FakeConnector(fake, STATUS), fake.received, None)
        return
    folder = _readable_folder()
    broker = Broker(folder, f"max_packet_size 2000\nacl_file {folder / 'acl'}\n")
    broker.start()
    seen = Seen()
    task = asyncio.create_task(subscribe(broker.port, seen))
    await asyncio.wait_for(seen.ready.wait(), 10)
    delivered: list[tuple[str, bytes]] = []
    settings = MqttSettings(host="127.0.0.1", port=broker.port, client_id=HUB, status_topic=STATUS, tls=False)
    try:
        yield Backend(MqttConnector(settings), delivered, seen)
    finally:
        task.cancel()
        broker.stop()
        shutil.rmtree(folder)


async def _drain(hub: Hub, backend: Backend, expected: int) -> list[tuple[str, bytes]]:
    publisher = Publisher(
        LedgerWorker(open_ledger(hub.data_dir)),
        backend.connector,
        max_inflight=8,
        backoff=Backoff(0.01, 0.1),
        idle_poll_s=0.05,
        clock=lambda: T0 + 1000,
    )
    task = asyncio.create_task(publisher.run())
    try:
        await asyncio.wait_for(publisher.connected.wait(), 10)
        waiter = backend.wait or Seen()
        await waiter.until(lambda: outbox.depth(hub.ledger) == 0)
        if backend.wait is not None:
            await backend.wait.until(lambda: len(backend.wait.seqs) >= expected)  # type: ignore[union-attr]
            backend.delivered[:] = [(t, p) for t, p, _ in backend.wait.messages if not t.endswith("/status")]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        publisher.ledger.close()
    return [(t, p) for t, p in backend.delivered if not t.endswith("/status")]


async def test_drains_in_order_and_sets_aside_what_is_too_big(hub: Hub, backend: Backend) -> None:
    hub.record("living_room.temperature", [(T0 + i, 20.0 + i % 3) for i in range(200)])
    hub.record("kitchen_plug.power", [(T0 + i, 1500.0 + i) for i in range(600)])
    hub.grant("coop", ["living_room.temperature"], "summary:10s")
    hub.grant("lab", ["kitchen_plug.power"], "raw", allow_raw=True)
    hub.record("bedroom.temperature", [(T0 + i, 18.0) for i in range(20)])
    hub.grant("insurer", ["bedroom.temperature"], "summary:10s")
    hub.summariser.step(T0 + 700)
    total = outbox.depth(hub.ledger)
    delivered = await _drain(hub, backend, total - 4)
    seqs = [json.loads(p)["seq"] for _, p in delivered]
    # At least once: a link that reconnects under load may send a message twice, never out of order
    # the first time and never lose one.
    first_seen = list(dict.fromkeys(seqs))
    assert len(first_seen) == total - 4
    assert first_seen == sorted(first_seen)
    assert {t for t, _ in delivered} == {f"{PREFIX}/{HUB}/coop/living_room.temperature"}
    aside = sorted(r for (r,) in hub.ledger.execute("SELECT reason FROM outbox_set_aside"))
    assert len(aside) == 4
    assert all("maximum packet size 2000" in r for r in aside[:2])
    assert all(r.startswith("refused by the broker: Not authorized") for r in aside[2:]), aside
    assert outbox.last_acked_seq(hub.ledger) == max(seqs)
