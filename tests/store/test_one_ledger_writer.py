"""A running hub changes its ledger through one writer: the ``LedgerWorker``'s connection, on its thread.

Every layer that writes the ledger (fleet history, the sync layer, owner actions, the consent page)
goes through it, so SQLite never sees two writers of the same file in one process and a long write
never runs on the event loop.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.consent.ledger import audit_of_kind
from agent.control.actions import perform
from agent.control.owner import RunningHub
from agent.fleet import history
from agent.store.ledger import open_ledger
from tests.fleet.fleet_support import (
    CLIMATE,
    PLUG,
    Mosquitto,
    push_to_hub,
    running,
    upstream,
    watching,
    write_hub,
)
from tests.testbed.wait import eventually


def published(path: Path) -> int:
    """How many publishes the hub's audit log records so far."""
    check = open_ledger(path.parent / "data", read_only=True)
    try:
        return len(audit_of_kind(check, "publish"))
    finally:
        check.close()


WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "BEGIN IMMEDIATE")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[int]:
    folder = tmp_path / "broker"
    folder.mkdir()
    with Mosquitto(folder) as server:
        yield server.port


async def test_sync_owner_actions_and_fleet_pushes_write_through_the_ledger_worker_only(
    tmp_path: Path, broker: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = Ed25519PrivateKey.generate()
    path = write_hub(tmp_path, "hub-one", key=key, port=broker, sources=PLUG + upstream(broker))
    writes: list[tuple[sqlite3.Connection, str, str]] = []  # (connection, thread, statement)

    def traced(data_dir: Path, *, read_only: bool = False) -> sqlite3.Connection:
        conn = open_ledger(data_dir, read_only=read_only)

        def trace(statement: str) -> None:
            if statement.lstrip().upper().startswith(WRITES):
                writes.append((conn, threading.current_thread().name, statement.strip()[:60]))

        conn.set_trace_callback(trace)
        return conn

    # Every ledger connection the agent opens records its writes, with the thread that made them.
    monkeypatch.setattr("agent.daemon.agent.open_ledger", traced)
    async with watching(broker) as watcher, running([path]) as (hub,):
        worker = hub.agent.ledger.conn
        owner = RunningHub(hub.agent)
        grant = {"recipient": "coop", "purpose": "test", "strands": ["plug.power"], "granularity": "raw"}
        await perform(owner, "consent.grant", {**grant, "allow_raw": True})
        await eventually(lambda: published(path) > 0, "a summary to be published and audited")
        await push_to_hub(broker, key, "hub-one", PLUG + CLIMATE + upstream(broker), version=1)
        await watcher.wait_for(["hub-one"], "applied", 1)
        await push_to_hub(broker, key, "hub-one", PLUG, version=1)  # a replay: rejected
        await watcher.wait_for(["hub-one"], "rejected", 1)
    assert writes, "nothing was recorded"
    around = [(thread, sql) for conn, thread, sql in writes if conn is not worker]
    assert around == [], "a ledger write went around the hub's ledger worker"
    threads = {thread for _, thread, _ in writes}
    assert all(name.startswith("hearth-ledger") for name in threads), threads
    check = open_ledger(path.parent / "data", read_only=True)
    try:
        assert history.running_version(check) == 1
        assert history.latest(check) is not None
    finally:
        check.close()
