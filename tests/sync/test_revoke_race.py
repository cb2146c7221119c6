"""A revocation that commits while the publisher re-checks its pending rows still stops them.

The publisher re-checks the rows it holds whenever the ledger changed. A revocation committing after
that re-check read the ledger, but before its answer reached the publisher, must be seen too: no
message of the grant may reach the broker once ``revoke`` returned.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import Callable
from typing import TypeVar

from agent.backoff import Backoff
from agent.consent import outbox
from agent.consent.ledger import revoke
from agent.store.ledger import open_ledger
from agent.store.worker import LedgerWorker
from agent.sync.link import FakeBroker, FakeConnector
from agent.sync.publisher import Publisher
from tests.testbed.wait import eventually

from .conftest import HUB, PREFIX, T0, Hub

T = TypeVar("T")


class RecheckHook(LedgerWorker):
    """The hub's ledger worker, calling ``after_recheck`` once a re-check of pending rows has answered.

    The hook runs before the publisher sees the answer: exactly where a revocation committed from the
    CLI would land if it came a moment after the re-check's read.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        super().__init__(conn)
        self.after_recheck: Callable[[], None] | None = None

    async def run(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        result = await super().run(fn, *args, **kwargs)
        if fn is outbox.sendable and self.after_recheck is not None:
            hook, self.after_recheck = self.after_recheck, None
            hook()
        return result


async def test_a_revocation_landing_during_the_recheck_stops_the_pending_rows(hub: Hub) -> None:
    hub.record("living_room.temperature", [(T0 + i, 20.0) for i in range(60)])
    grant = hub.grant("coop", ["living_room.temperature"], "summary:10s")
    hub.summariser.step(T0 + 60)
    queued = outbox.depth(hub.ledger)
    assert queued == 6

    broker = FakeBroker(hold_acks=True)
    worker = RecheckHook(open_ledger(hub.data_dir))
    publisher = Publisher(
        worker,
        FakeConnector(broker, f"{PREFIX}/{HUB}/status"),
        max_inflight=1,
        backoff=Backoff(base=0.001, cap=0.004),
        idle_poll_s=0.01,
        clock=lambda: T0 + 100,
    )
    task = asyncio.create_task(publisher.run())
    try:
        # The first message is out and its PUBACK held: the rest wait for the one-message window.
        await eventually(lambda: len(broker.received) == 1)
        # Anything committed meanwhile (another grant here) makes the publisher re-check what it holds.
        hub.grant("lab", ["kitchen.power"], "summary:10s", now=T0 + 100)
        revoked_at: list[int] = []
        revoked = asyncio.Event()

        def owner_revokes() -> None:
            revoke(hub.ledger, grant.id, now=T0 + 100)
            revoked_at.append(len(broker.received))
            revoked.set()

        worker.after_recheck = owner_revokes
        broker.release_acks()
        await asyncio.wait_for(revoked.wait(), 10)
        await eventually(lambda: outbox.depth(hub.ledger) == 0)
        after = [json.loads(p)["seq"] for _, p in broker.received[revoked_at[0] :]]
        assert after == [], f"messages {after} of the revoked grant reached the broker after revoke returned"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        worker.close()
