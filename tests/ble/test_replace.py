"""Forgetting a BLE sensor on a running hub, and adopting another one under its name, as the owner does."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent.config import config_from_mapping
from agent.control.actions import perform
from agent.control.owner import RunningHub
from agent.daemon import Agent
from agent.sources.ble import BleSource
from agent.store.readings import open_readings
from tests.ble import payloads as p
from tests.ble.conftest import FakeClock, FakeResetter, FakeScanner
from tests.testbed.wait import eventually

OLD = "A4:C1:38:00:00:01"
NEW = "A4:C1:38:00:00:02"


def values(data_dir: Path, stream: str) -> list[float]:
    """What the readings file holds for ``stream`` (read by a connection of the test's own)."""
    store = open_readings(data_dir, read_only=True)
    try:
        rows = store.conn.execute(
            "SELECT r.value FROM readings r JOIN streams s ON s.id = r.stream_id WHERE s.name = ?"
            " ORDER BY r.key",
            (stream,),
        ).fetchall()
        return [value for (value,) in rows]
    finally:
        store.close()


def orphans(data_dir: Path) -> int:
    store = open_readings(data_dir, read_only=True)
    try:
        (n,) = store.conn.execute(
            "SELECT count(*) FROM readings WHERE stream_id NOT IN (SELECT id FROM streams)"
        ).fetchone()
        return int(n)
    finally:
        store.close()


def stream_id(data_dir: Path, stream: str) -> int:
    store = open_readings(data_dir, read_only=True)
    try:
        (sid,) = store.conn.execute("SELECT id FROM streams WHERE name = ?", (stream,)).fetchone()
        return int(sid)
    finally:
        store.close()


async def test_a_sensor_replaced_under_the_same_name_starts_a_clean_stream(
    tmp_path: Path, scanner: FakeScanner, clock: FakeClock, resetter: FakeResetter
) -> None:
    data_dir = tmp_path / "data"
    config = config_from_mapping(
        {"hub": {"id": "h", "data_dir": str(data_dir)}, "store": {"flush_interval": "20ms"}}
    )
    source = BleSource("ble", scanner, clock=clock, resetter=resetter, adoption_refresh=3600.0)
    agent = Agent(config, sources=[source])
    hub = RunningHub(agent)
    run = asyncio.create_task(agent.run())
    await agent.started.wait()
    await eventually(scanner.started.is_set, "scanning")

    await perform(hub, "ble.adopt", {"address": OLD, "name": "porch"})
    for centi in (2000, 2001, 2002):
        scanner.advertise(p.bthome_temp(centi, OLD))
    await eventually(lambda: len(values(data_dir, "porch.temperature")) == 3, "the old sensor's readings")
    old_id = stream_id(data_dir, "porch.temperature")
    # Adverts the hub took but has not committed yet when the owner forgets the sensor.
    scanner.advertise(p.bthome_temp(2003, OLD))

    forgot = await perform(hub, "ble.forget", {"name": "porch"})
    assert forgot["erased"] in (3, 4)  # the fourth was erased, or never written once forgotten
    assert values(data_dir, "porch.temperature") == []
    scanner.advertise(p.bthome_temp(3000, OLD))  # the old sensor goes on advertising nearby

    await perform(hub, "ble.adopt", {"address": NEW, "name": "porch"})
    scanner.advertise(p.bthome_temp(3000, OLD))
    for centi in (2500, 2501):
        scanner.advertise(p.bthome_temp(centi, NEW))
    await eventually(lambda: len(values(data_dir, "porch.temperature")) == 2, "the new sensor's readings")
    assert values(data_dir, "porch.temperature") == [25.0, 25.01]
    assert stream_id(data_dir, "porch.temperature") > old_id
    assert orphans(data_dir) == 0
    agent.stop()
    await run

    # After a restart the stream still holds the new sensor's readings only.
    source = BleSource("ble", scanner, clock=clock, resetter=resetter, adoption_refresh=3600.0)
    agent = Agent(config, sources=[source])
    run = asyncio.create_task(agent.run())
    await agent.started.wait()
    await eventually(lambda: source.adopted_names == ["porch"], "adoptions read at start")
    scanner.advertise(p.bthome_temp(3001, OLD))
    scanner.advertise(p.bthome_temp(2502, NEW))
    await eventually(lambda: len(values(data_dir, "porch.temperature")) == 3, "readings after the restart")
    agent.stop()
    await run
    assert values(data_dir, "porch.temperature") == [25.0, 25.01, 25.02]
