"""``forget`` on a running hub: the stream stops being recorded at once, nothing of it is left, and its
id is never handed to another stream."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from agent.config import config_from_mapping
from agent.control.actions import perform
from agent.control.owner import RunningHub
from agent.daemon import Agent
from agent.store.readings import READINGS_FILE, open_readings
from tests.testbed.wait import eventually


def rows_by_stream(data_dir: Path) -> dict[int, int]:
    store = open_readings(data_dir, read_only=True)
    try:
        return dict(store.conn.execute("SELECT stream_id, count(*) FROM readings GROUP BY stream_id"))
    finally:
        store.close()


def ids(data_dir: Path) -> dict[str, int]:
    store = open_readings(data_dir, read_only=True)
    try:
        return {name: sid for sid, name in store.conn.execute("SELECT id, name FROM streams")}
    finally:
        store.close()


def hub_config(data_dir: Path, *sources: str) -> dict[str, object]:
    return {
        "hub": {"id": "h", "data_dir": str(data_dir)},
        "store": {"flush_interval": "20ms"},
        "sources": [
            {"kind": "simulated", "name": name, "file": "builtin:kettle_plug.csv", "rate": 100}
            for name in sources
        ],
    }


async def test_forget_stops_recording_at_once_and_ids_are_never_reused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    agent = Agent(config_from_mapping(hub_config(data_dir, "plug", "kettle")))
    run = asyncio.create_task(agent.run())
    await agent.started.wait()
    await eventually(lambda: len(rows_by_stream(data_dir)) == 2, "both streams recording")
    before = ids(data_dir)

    forgot = await perform(RunningHub(agent), "forget", {"pattern": "plug.*"})
    assert forgot["streams"] == ["plug.power"]
    assert forgot["readings"] > 0
    # The plug source goes on sending: many more batches commit, none of them under the plug.
    committed = agent.recorder.committed
    await eventually(lambda: agent.recorder.committed > committed + 100, "more batches committed")
    assert ids(data_dir) == {"kettle.power": before["kettle.power"]}
    assert set(rows_by_stream(data_dir)) == {before["kettle.power"]}  # no rows without a stream
    assert agent.store.undeclared.get("plug.power", 0) > 0

    # A stream added later (here: the same source after a restart) starts afresh, under a new id.
    agent.stop()
    await run
    agent = Agent(config_from_mapping(hub_config(data_dir, "plug", "kettle", "porch")))
    run = asyncio.create_task(agent.run())
    await agent.started.wait()
    await eventually(lambda: len(rows_by_stream(data_dir)) == 3, "three streams recording")
    agent.stop()
    await run
    after = ids(data_dir)
    assert after["kettle.power"] == before["kettle.power"]
    assert after["plug.power"] > max(before.values())
    assert after["porch.power"] > max(before.values())


def test_upgrading_a_file_drops_rows_that_belong_to_no_stream(tmp_path: Path) -> None:
    """Files written before ids were kept rising may hold a forgotten stream's rows: they go at upgrade."""
    from agent.store.readings_schema import MIGRATIONS

    path = tmp_path / READINGS_FILE
    conn = sqlite3.connect(path, isolation_level=None)
    for script in MIGRATIONS[:2]:
        conn.executescript(script)
    conn.execute("PRAGMA user_version = 2")
    conn.execute("INSERT INTO devices (id, name, kind, adopted_at) VALUES (1, 'plug', 'simulated', 'x')")
    conn.execute("INSERT INTO streams (id, name, device_id, quantity) VALUES (1, 'plug.power', 1, 'power')")
    conn.execute(
        "INSERT INTO readings (key, value) VALUES ((1000 << 20) | 1, 5.0), ((1000 << 20) | 2, 9137.8)"
    )
    conn.execute("INSERT INTO rollups VALUES (2, 60, 0, 1, 9137.8, 9137.8, 9137.8)")
    conn.close()
    store = open_readings(tmp_path)
    assert store.conn.execute("SELECT value FROM readings").fetchall() == [(5.0,)]
    assert store.conn.execute("SELECT count(*) FROM rollups").fetchone() == (0,)
    assert store.conn.execute("SELECT count(*) FROM reading_log").fetchone() == (1,)
    # Ids keep rising past every id ever handed out, even once the newest stream is gone.
    store.conn.execute("DELETE FROM streams")
    store.conn.execute("INSERT INTO streams (name, device_id, quantity) VALUES ('porch.power', 1, 'power')")
    assert store.conn.execute("SELECT id FROM streams").fetchone() == (2,)
    store.close()
