"""GATT devices: characteristic parsing per the specifications, the UART text mode, reconnection."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from typing import Any

import pytest
from bleak.exc import BleakError
from bleak_retry_connector import BleakOutOfConnectionSlotsError
from hypothesis import given
from hypothesis import strategies as st

from agent.sources.ble.gatt import GattDevice, GattDeviceRunner
from agent.sources.ble.gatt_parsers import (
    BATTERY_LEVEL,
    HEART_RATE_MEASUREMENT,
    HUMIDITY,
    TEMPERATURE,
    GattParseError,
    HeartRateMeasurement,
    parse_battery,
    parse_heart_rate,
    parse_humidity,
    parse_temperature,
)
from agent.sources.ble.nus import NUS_TX
from agent.sources.ble.source import BleSource
from tests.ble.conftest import FakeClock, FakeResetter, FakeScanner, drain, make_sink
from tests.ble.payloads import encode_hrm
from tests.testbed.wait import eventually


@pytest.mark.parametrize("flags", range(256), ids=lambda f: f"flags=0x{f:02x}")
def test_heart_rate_measurement_every_flag_combination(flags: int) -> None:
    bpm = 300 if flags & 0x01 else 72
    data = encode_hrm(flags, bpm, 1234, [1024, 512, 800])
    expected_contact = bool(flags & 0x02) if flags & 0x04 else None
    assert parse_heart_rate(data) == HeartRateMeasurement(
        bpm,
        expected_contact,
        1234 if flags & 0x08 else None,
        (1.0, 0.5, 800 / 1024) if flags & 0x10 else (),
    )


@given(
    flags=st.integers(0, 255),
    bpm=st.integers(0, 0xFFFF),
    energy=st.integers(0, 0xFFFF),
    rr=st.lists(st.integers(0, 0xFFFF), max_size=9),
)
def test_heart_rate_measurement_round_trip(flags: int, bpm: int, energy: int, rr: list[int]) -> None:
    if not flags & 0x01:
        bpm &= 0xFF
    m = parse_heart_rate(encode_hrm(flags, bpm, energy, rr))
    assert m.bpm == bpm
    assert m.energy_kj == (energy if flags & 0x08 else None)
    assert m.rr_intervals == (tuple(v / 1024 for v in rr) if flags & 0x10 else ())


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"", "empty", id="empty"),
        pytest.param(b"\x00", "too short", id="no-bpm"),
        pytest.param(b"\x01\x48", "too short", id="16-bit-bpm-cut"),
        pytest.param(b"\x08\x48\x01", "too short", id="energy-cut"),
        pytest.param(b"\x10\x48\x00\x04\x01", "odd number", id="rr-odd"),
    ],
)
def test_malformed_heart_rate_measurement_is_an_error(data: bytes, message: str) -> None:
    with pytest.raises(GattParseError, match=message):
        parse_heart_rate(data)


def test_environmental_sensing_and_battery() -> None:
    assert parse_temperature(b"\xca\x09") == 25.06
    assert parse_temperature(struct.pack("<h", -1234)) == -12.34
    assert parse_humidity(b"\xbf\x13") == 50.55
    assert parse_battery(b"\x57") == 87.0
    for bad, parse in [(b"\x01", parse_temperature), (b"", parse_humidity), (b"\x65", parse_battery)]:
        with pytest.raises(GattParseError):
            parse(bad)


class FakeClient:
    """A connected GATT peripheral behind the same methods as bleak's client."""

    def __init__(self, values: dict[str, bytes]) -> None:
        self.values = values
        self.notify: dict[str, Callable[[Any, bytearray], None]] = {}
        self.is_connected = True

    async def start_notify(self, char_specifier: Any, callback: Callable[[Any, bytearray], None]) -> None:
        self.notify[char_specifier] = callback

    async def read_gatt_char(self, char_specifier: Any) -> bytearray:
        if not self.is_connected:
            raise BleakError("Not connected")
        return bytearray(self.values[char_specifier])

    async def write_gatt_char(self, char_specifier: Any, data: bytes, response: bool) -> None:
        if not self.is_connected:
            raise BleakError("Not connected")

    async def disconnect(self) -> None:
        self.is_connected = False

    def send(self, char: str, data: bytes) -> None:
        self.notify[char](None, bytearray(data))


class FakeConnector:
    """Hands out fake clients; scripted failures first; records the link-drop callbacks."""

    def __init__(self, values: dict[str, bytes] | None = None) -> None:
        self.values = values or {}
        self.errors: list[BaseException] = []
        self.clients: dict[str, list[FakeClient]] = {}
        self.drops: dict[str, Callable[[], None]] = {}
        self.connected = 0
        self.peak = 0

    async def connect(self, address: str, name: str, on_disconnect: Callable[[], None]) -> FakeClient:
        if self.errors:
            raise self.errors.pop(0)
        client = FakeClient(self.values)
        self.clients.setdefault(name, []).append(client)
        self.connected += 1
        self.peak = max(self.peak, self.connected)

        def dropped() -> None:
            client.is_connected = False
            self.connected -= 1
            on_disconnect()

        self.drops[name] = dropped
        return client


Emitted = list[tuple[str, str, float, str]]


def runner_for(
    device: GattDevice, connector: FakeConnector, clock: FakeClock, slots: int = 3
) -> tuple[GattDeviceRunner, Emitted, dict[str, int]]:
    emitted: Emitted = []
    stats: dict[str, int] = {}

    def emit(dev: str, quantity: str, value: float, unit: str, ts: float, streams: dict[str, str]) -> None:  # noqa: PLR0917
        emitted.append((dev, quantity, value, unit))

    runner = GattDeviceRunner(device, connector, asyncio.Semaphore(slots), emit, stats, clock=clock)
    return runner, emitted, stats


async def test_heart_rate_strap_reconnects_after_a_drop(clock: FakeClock) -> None:
    connector = FakeConnector()
    device = GattDevice("strap", "11:22:33:44:55:66", ("heart_rate",))
    runner, emitted, stats = runner_for(device, connector, clock)
    task = asyncio.create_task(runner.run())
    await eventually(runner.connected.is_set, "the runner to connect")
    connector.clients["strap"][-1].send(HEART_RATE_MEASUREMENT, encode_hrm(0x16, 64, 0, [1024, 512]))
    assert ("strap", "heart_rate", 64.0, "bpm") in emitted
    assert ("strap", "sensor_contact", 1.0, "") in emitted
    assert [e[2] for e in emitted if e[1] == "rr_interval"] == [1.0, 0.5]

    connector.drops["strap"]()
    await eventually(lambda: not runner.connected.is_set())
    await clock.advance_until(runner.connected.is_set)
    assert stats["gatt_drops"] == 1
    assert stats["gatt_connects"] == 2
    connector.clients["strap"][-1].send(HEART_RATE_MEASUREMENT, encode_hrm(0x00, 70, 0, []))
    assert emitted[-1] == ("strap", "heart_rate", 70.0, "bpm")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_out_of_connection_slots_is_counted_and_retried(clock: FakeClock) -> None:
    connector = FakeConnector({TEMPERATURE: b"\xca\x09", HUMIDITY: b"\xbf\x13", BATTERY_LEVEL: b"\x57"})
    connector.errors = [
        BleakOutOfConnectionSlotsError("no free connection slot on hci0"),
        BleakError("le-connection-abort-by-local"),
    ]
    device = GattDevice("thermo", "11:22:33:44:55:77", ("environmental", "battery"), poll_interval=30)
    runner, emitted, stats = runner_for(device, connector, clock)
    task = asyncio.create_task(runner.run())
    await clock.advance_until(runner.connected.is_set)
    await eventually(lambda: len(emitted) >= 3)
    assert stats["gatt_no_slots"] == 1
    assert stats["gatt_connect_errors"] == 1
    assert emitted[:3] == [
        ("thermo", "temperature", 25.06, "°C"),
        ("thermo", "humidity", 50.55, "%"),
        ("thermo", "battery", 87.0, "%"),
    ]
    await clock.advance(30, step=30)
    await eventually(lambda: len(emitted) >= 6)
    connector.clients["thermo"][-1].is_connected = False  # gone silently: the next poll fails
    await clock.advance_until(lambda: stats.get("gatt_connects", 0) == 2)
    assert stats["gatt_drops"] == 1
    await eventually(lambda: len(emitted) >= 9)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_connection_cap_and_uart_text_through_the_source(
    scanner: FakeScanner, clock: FakeClock, resetter: FakeResetter
) -> None:
    connector = FakeConnector()
    devices = [GattDevice(f"board{i}", f"11:22:33:44:55:0{i}", ("nus",), nus_mode="text") for i in range(3)]
    source = BleSource(
        "ble",
        scanner,
        clock=clock,
        resetter=resetter,
        gatt_devices=devices,
        connector=connector,
        max_connections=2,
    )
    sink = make_sink()
    task = asyncio.create_task(source.run(sink))
    await eventually(lambda: connector.connected == 2)
    assert source.stats["gatt_waiting_for_slot"] >= 1
    connector.clients["board0"][-1].send(NUS_TX, b"temp=21.5 hum=4")
    connector.clients["board0"][-1].send(NUS_TX, b"0\n")
    assert {(r.stream, r.value) for r in drain(sink)} == {("board0.temp", 21.5), ("board0.hum", 40.0)}
    connector.drops["board0"]()  # its slot goes to the third board
    await eventually(lambda: "board2" in connector.clients)
    assert connector.peak == 2
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
