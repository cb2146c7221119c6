"""End to end through bleak's real BlueZ backend, against a fake bluetoothd on a private D-Bus."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from bleak.exc import BleakError

from agent.config import config_from_mapping
from agent.daemon import Agent
from agent.sources.ble import BleSource
from agent.sources.ble.adoption import AdoptionStore
from agent.sources.ble.discovery import discover
from agent.sources.ble.gatt_parsers import BATTERY_LEVEL, HEART_RATE_MEASUREMENT, HUMIDITY, TEMPERATURE
from agent.sources.ble.nus import NUS_RX, NUS_SERVICE, NUS_TX
from agent.sources.ble.scanner import BleakAdvertScanner
from agent.store.readings import open_readings
from firmware_bridge import FrameDecoder, Hello, HelloRequest, Readings, Sensor, encode
from firmware_bridge.messages import Frame
from tests.ble import payloads as p
from tests.ble.bluez import FakeBluez, fake_bluez, missing_tools
from tests.ble.conftest import FakeResetter
from tests.ble.payloads import encode_hrm
from tests.testbed.wait import eventually

NEIGHBOUR = "D0:0D:FE:ED:BE:EF"
NEIGHBOUR_NAME = "NeighboursThermo"

pytestmark = pytest.mark.skipif(missing_tools() is not None, reason=str(missing_tools()))


def hub_config(data_dir: Path, silence: str = "90s") -> object:
    ble = {
        "kind": "ble",
        "adapter": "hci0",
        "scanning": "auto",
        "adoption_refresh": "1s",
        "silence_timeout": silence,
    }
    return config_from_mapping(
        {
            "hub": {"id": "test-hub", "data_dir": str(data_dir)},
            "store": {"flush_interval": "50ms"},
            "sources": [ble],
        },
        source="test",
    )


def recorded(data_dir: Path) -> list[tuple[str, float, str]]:
    """(stream, value, unit) of every reading the hub stored in ``data_dir``."""
    store = open_readings(data_dir, read_only=True)
    try:
        return [(r["stream"], r["value"], r["unit"]) for r in store.db.query("SELECT * FROM reading_log")]
    finally:
        store.close()


async def test_adopted_bthome_device_is_stored_and_a_neighbour_leaves_no_trace(
    bluez: FakeBluez, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    data_dir = tmp_path / "data"
    agent = Agent(hub_config(data_dir), health_every=0.2)  # type: ignore[arg-type]
    AdoptionStore(agent.store.conn).adopt(p.BTHOME_ADDRESS, "bedroom")
    AdoptionStore(agent.store.conn).adopt(
        p.BTHOME_ENCRYPTED_ADDRESS, "shelly", bytes.fromhex(p.BTHOME_BINDKEY)
    )
    (source,) = [r.source for r in agent.runners]
    assert isinstance(source, BleSource)
    runner = asyncio.create_task(agent.run())
    await eventually(source.scanning.is_set, "the source to scan", within=20)
    assert source.scanner.mode == "passive", "the fake BlueZ offers AdvertisementMonitor"
    await bluez.advertise(p.BTHOME_ENCRYPTED_ADDRESS, "SBHT-003C", uuid=p.BTHOME, data=p.BTHOME_ENCRYPTED)

    await bluez.advertise(NEIGHBOUR, NEIGHBOUR_NAME, uuid=p.BTHOME, data=p.BTHOME_V2_TEMP_HUM)
    await bluez.advertise(p.BTHOME_ADDRESS, "ATC_8D18B2", uuid=p.BTHOME, data=p.BTHOME_V2_TEMP_HUM)
    await bluez.advertise(p.BTHOME_ADDRESS, "ATC_8D18B2", uuid=p.BTHOME, data=p.BTHOME_V2_TEMP_HUM)
    await bluez.advertise(NEIGHBOUR, NEIGHBOUR_NAME, uuid=p.BTHOME, data=b"\x40\x02\x00\x0a")
    await bluez.advertise(p.BTHOME_ADDRESS, "ATC_8D18B2", uuid=p.BTHOME, data=b"\x40\x02\xcb\x09")
    await eventually(lambda: agent.recorder.committed >= 5, within=20)
    assert source.unadopted >= 2
    assert source.repeats >= 1
    agent.stop()
    await runner

    store = open_readings(data_dir, read_only=True)
    try:
        rows = list(store.db.query("SELECT stream, value, unit FROM reading_log ORDER BY time, stream"))
    finally:
        store.close()
    assert sorted((r["stream"], r["value"], r["unit"]) for r in rows) == [
        ("bedroom.humidity", 50.55, "%"),
        ("bedroom.temperature", 25.06, "°C"),
        ("bedroom.temperature", 25.07, "°C"),
        ("shelly.humidity", 50.55, "%"),
        ("shelly.temperature", 25.06, "°C"),
    ]
    assert source.stats["unadopted_ignored"] >= 2

    forms = [
        NEIGHBOUR,
        NEIGHBOUR.lower(),
        NEIGHBOUR.replace(":", "_"),
        NEIGHBOUR.replace(":", ""),
        NEIGHBOUR_NAME,
    ]
    files = [f for f in data_dir.iterdir() if f.is_file()]
    assert any(f.name.startswith("readings.db") for f in files)
    for file in files:
        content = file.read_bytes()
        for form in forms:
            assert form.encode() not in content, f"{form} found in {file.name}"
    for form in forms:
        assert form not in caplog.text


async def test_discovery_lists_candidates_and_stores_nothing(bluez: FakeBluez, tmp_path: Path) -> None:
    scanner = BleakAdvertScanner("hci0", "active")
    task = asyncio.create_task(discover(scanner, 1.0))
    await eventually(bluez.discovering, "the scan to start before the devices advertise")
    await bluez.advertise(p.RUUVI_ADDRESS, "Ruuvi EFAF", company=0x0499, mdata=p.RUUVI_V5)
    await bluez.advertise(NEIGHBOUR, NEIGHBOUR_NAME, company=0x004C, mdata=b"\x10\x05\x01")
    candidates = {c.address: c for c in await task}
    assert candidates[p.RUUVI_ADDRESS].kind == "ruuvitag (RuuviTag)"
    assert candidates[NEIGHBOUR].kind is None
    assert scanner.mode == "active"
    assert await asyncio.to_thread(lambda: list(tmp_path.glob("**/*.db"))) == []


async def test_adapter_vanishing_and_returning_through_bluez(bluez: FakeBluez, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    agent = Agent(hub_config(data_dir, silence="1s"), health_every=0.2)  # type: ignore[arg-type]
    AdoptionStore(agent.store.conn).adopt(p.RUUVI_ADDRESS, "balcony")
    (source,) = [r.source for r in agent.runners]
    assert isinstance(source, BleSource)
    source.resetter = resetter = FakeResetter()
    source.backoff.base = source.backoff.cap = 0.1
    runner = asyncio.create_task(agent.run())
    await eventually(source.scanning.is_set, "the source to scan", within=20)
    await bluez.remove_adapter("hci0")
    # bleak does not report a vanished adapter: the silence watchdog notices, restarts fail meanwhile
    await eventually(lambda: source.stats.get("no_adapter", 0) >= 3, within=20)
    assert resetter.resets == ["hci0"]
    await bluez.add_adapter("hci0")
    await eventually(source.scanning.is_set, "the source to scan", within=20)
    await bluez.advertise(p.RUUVI_ADDRESS, "Ruuvi EFAF", company=0x0499, mdata=p.RUUVI_V5)
    await eventually(lambda: agent.recorder.committed >= 1, within=20)
    assert source.stats["silence_restarts"] >= 1
    agent.stop()
    await runner


async def test_auto_scanning_falls_back_to_active_without_advertisement_monitor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with fake_bluez(tmp_path, passive=False) as bluez:
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bluez.address)
        await bluez.add_adapter("hci0")
        heard: list[str] = []
        scanner = BleakAdvertScanner("hci0", "auto")
        await scanner.start(lambda advert: heard.append(advert.address))
        try:
            assert scanner.mode == "active"
            await bluez.advertise(p.RUUVI_ADDRESS, "Ruuvi EFAF", company=0x0499, mdata=p.RUUVI_V5)
            await eventually(lambda: p.RUUVI_ADDRESS in heard, within=10)
        finally:
            await scanner.stop()
        passive_only = BleakAdvertScanner("hci0", "passive")
        with pytest.raises(BleakError, match="passive scanning"):
            await passive_only.start(heard.append)


async def test_gatt_heart_rate_strap_through_bleak_retry_connector(bluez: FakeBluez, tmp_path: Path) -> None:
    strap = "F1:22:33:44:55:66"
    await bluez.add_gatt_device(
        strap,
        "Polar H10",
        [
            ("0000180d-0000-1000-8000-00805f9b34fb", [(HEART_RATE_MEASUREMENT, "notify", b"\x00\x40")]),
            ("0000180f-0000-1000-8000-00805f9b34fb", [(BATTERY_LEVEL, "read", b"\x57")]),
            (
                "0000181a-0000-1000-8000-00805f9b34fb",
                [(TEMPERATURE, "read", b"\xca\x09"), (HUMIDITY, "read", b"\xbf\x13")],
            ),
            (NUS_SERVICE, [(NUS_TX, "notify", b""), (NUS_RX, "write", b"")]),
        ],
    )

    async def advertise_now_and_then() -> None:  # the strap advertises while it is not connected
        while True:
            await bluez.advertise(strap, "Polar H10", company=0x006B, mdata=b"\x01")
            await asyncio.sleep(0.2)

    advertiser = asyncio.create_task(advertise_now_and_then())
    config = config_from_mapping(
        {
            "hub": {"id": "test-hub", "data_dir": str(tmp_path / "data")},
            "store": {"flush_interval": "50ms"},
            "sources": [
                {
                    "kind": "ble",
                    "gatt": [
                        {
                            "name": "strap",
                            "address": strap,
                            "services": ["heart_rate", "battery", "environmental", "nus"],
                            "nus_mode": "text",
                        }
                    ],
                }
            ],
        },
        source="test",
    )
    agent = Agent(config, health_every=0.2)
    (source,) = [r.source for r in agent.runners]
    assert isinstance(source, BleSource)
    runner = asyncio.create_task(agent.run())
    try:

        def subscribed(sessions: int) -> bool:  # connected *and* notifications on: a notify is not lost
            runner = source.gatt_runner("strap")
            return (
                source.stats.get("gatt_connects", 0) >= sessions
                and runner is not None
                and runner.connected.is_set()
            )

        await eventually(lambda: subscribed(1), "the strap connected with notifications on", within=30)
        await bluez.notify(strap, HEART_RATE_MEASUREMENT, encode_hrm(0x10, 72, 0, [870]))
        await bluez.notify(strap, NUS_TX, b"steps=12")
        await bluez.notify(strap, NUS_TX, b"0 lux=3\n")
        # temperature, humidity, battery, bpm, one RR interval, steps, lux
        await eventually(lambda: agent.recorder.committed >= 7, within=20)

        await bluez.drop_link(strap)
        await eventually(lambda: subscribed(2), "the strap reconnected with notifications on", within=30)
        assert source.stats["gatt_drops"] == 1
        await bluez.notify(strap, HEART_RATE_MEASUREMENT, encode_hrm(0x00, 75, 0, []))
        await eventually(lambda: agent.recorder.committed >= 11, within=20)  # polled three again, bpm
    finally:
        advertiser.cancel()
        agent.stop()
        await runner
    rows = recorded(tmp_path / "data")
    assert ("strap.battery", 87.0, "%") in rows
    assert ("strap.heart_rate", 72.0, "bpm") in rows
    assert ("strap.heart_rate", 75.0, "bpm") in rows
    assert ("strap.rr_interval", 870 / 1024, "s") in rows
    assert ("strap.temperature", 25.06, "°C") in rows
    assert ("strap.humidity", 50.55, "%") in rows
    assert ("strap.steps", 120.0, "") in rows
    assert ("strap.lux", 3.0, "") in rows


async def test_nus_board_speaks_the_framed_bridge_protocol(bluez: FakeBluez, tmp_path: Path) -> None:
    board = "E4:5F:01:AA:BB:CC"
    nus = [(NUS_TX, "notify", b""), (NUS_RX, "write,write-without-response", b"")]
    await bluez.add_gatt_device(board, "Hearth nRF52", [(NUS_SERVICE, nus)])

    async def advertise_now_and_then() -> None:
        while True:
            await bluez.advertise(board, "Hearth nRF52", uuid=NUS_SERVICE, data=b"")
            await asyncio.sleep(0.2)

    async def notify(frame: bytes) -> None:
        for start in range(0, len(frame), 20):  # a board on the default MTU notifies 20 bytes at a time
            await bluez.notify(board, NUS_TX, frame[start : start + 20])

    advertiser = asyncio.create_task(advertise_now_and_then())
    config = config_from_mapping(
        {
            "hub": {"id": "test-hub", "data_dir": str(tmp_path / "data")},
            "store": {"flush_interval": "50ms"},
            "sources": [
                {"kind": "ble", "gatt": [{"name": "greenhouse", "address": board, "services": ["nus"]}]}
            ],
        },
        source="test",
    )
    agent = Agent(config, health_every=0.2)
    (source,) = [r.source for r in agent.runners]
    assert isinstance(source, BleSource)
    runner = asyncio.create_task(agent.run())
    try:
        await eventually(lambda: source.stats.get("gatt_connects", 0) >= 1, within=30)
        written: list[bytes] = []

        async def host_wrote() -> bool:
            written[:] = await bluez.written(board, NUS_RX)
            return bool(written)

        async with asyncio.timeout(20):
            while not await host_wrote():
                await asyncio.sleep(0.05)  # the fake bluetoothd records writes; nothing signals them
        events = FrameDecoder().events(b"".join(written))
        assert [e.message for e in events if isinstance(e, Frame)] == [HelloRequest(1)]

        sensors = (Sensor("temperature", "°C"), Sensor("soil_moisture", "%"))
        await notify(encode(Hello("nrf52-greenhouse", "1.2.0", 1, sensors), 0))
        await notify(encode(Readings(((0, 21.5, 0), (1, 48.0, 0))), 1))
        await notify(encode(Readings(((0, 21.75, 0),)), 2))
        await eventually(lambda: agent.recorder.committed >= 3, within=20)
        assert source.stats["greenhouse.frames_ok"] == 3
        assert source.stats["greenhouse.crc_errors"] == 0
        assert source.stats["greenhouse.frames_lost"] == 0
    finally:
        advertiser.cancel()
        agent.stop()
        await runner
    rows = recorded(tmp_path / "data")
    assert sorted(rows) == [
        ("greenhouse.soil_moisture", 48.0, "%"),
        ("greenhouse.temperature", 21.5, "°C"),
        ("greenhouse.temperature", 21.75, "°C"),
    ]
