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

from agent.fleet import history
from agent.store.ledger import open_ledger
from tests.fleet.fleet_support import CLIMATE, PLUG, Mosquitto, push_to_hub, running, watching, write_hub

WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "BEGIN IMMEDIATE")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[int]:
    folder = tmp_path / "broker"
    folder.mkdir()
    with Mosquitto(folder) as server:
        yield server.port


async def test_a_fleet_push_is_recorded_through_the_ledger_worker_only(
    tmp_path: Path, broker: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = Ed25519PrivateKey.generate()
    path = write_hub(tmp_path, "hub-one", key=key, port=broker)
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
        worker = hub.agent.ledger_worker.conn
        await push_to_hub(broker, key, "hub-one", PLUG + CLIMATE, version=1)
        await watcher.wait_for(["hub-one"], "applied", 1)
        await push_to_hub(broker, key, "hub-one", PLUG, version=1)  # a replay: rejected
        await watcher.wait_for(["hub-one"], "rejected", 1)
    assert writes, "the pushes were not recorded"
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
