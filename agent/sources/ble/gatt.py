"""GATT devices: connect with ``bleak-retry-connector``, subscribe or poll, reconnect on a drop.

Pure parsers of the standard characteristics (Heart Rate Measurement, Environmental Sensing
temperature and humidity, Battery Level) sit next to the transport; the Nordic UART Service hands
its raw bytes to a ``BridgeCodec`` (the firmware bridge protocol, or ``TextLineCodec`` for sketches
that print ``temp=21.5 hum=40`` lines). A semaphore caps simultaneous connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from agent.backoff import Backoff
from agent.sources.ble.advert import Clock, SystemClock
from agent.sources.ble.watchdog import classify

log = logging.getLogger(__name__)

HEART_RATE_MEASUREMENT = "00002a37-0000-1000-8000-00805f9b34fb"
TEMPERATURE = "00002a6e-0000-1000-8000-00805f9b34fb"
HUMIDITY = "00002a6f-0000-1000-8000-00805f9b34fb"
BATTERY_LEVEL = "00002a19-0000-1000-8000-00805f9b34fb"
NUS_SERVICE = "6e400001-b5a3-f393-e0a9-e50e24dcca9e"
NUS_RX = "6e400002-b5a3-f393-e0a9-e50e24dcca9e"  # host writes here
NUS_TX = "6e400003-b5a3-f393-e0a9-e50e24dcca9e"  # device notifies here

RR_UNIT = 1024.0  # RR intervals are sent in 1/1024 s


class GattParseError(ValueError):
    """A characteristic value does not have the layout its specification gives."""


class HeartRateMeasurement(NamedTuple):
    """A Heart Rate Measurement (GATT 0x2A37); ``contact`` is None when contact is not sensed."""

    bpm: int
    contact: bool | None
    energy_kj: int | None
    rr_intervals: tuple[float, ...]  # seconds, oldest first


def parse_heart_rate(data: bytes) -> HeartRateMeasurement:
    """Decode a Heart Rate Measurement per the Heart Rate Service specification."""
    if not data:
        raise GattParseError("empty heart rate measurement")
    flags = data[0]
    offset = 1
    try:
        if flags & 0x01:
            (bpm,) = struct.unpack_from("<H", data, offset)
            offset += 2
        else:
            bpm = data[offset]
            offset += 1
        contact = bool(flags & 0x02) if flags & 0x04 else None
        energy: int | None = None
        if flags & 0x08:
            (energy,) = struct.unpack_from("<H", data, offset)
            offset += 2
    except (struct.error, IndexError) as exc:
        raise GattParseError(f"heart rate measurement too short for flags 0x{flags:02x}") from exc
    rr: tuple[float, ...] = ()
    if flags & 0x10:
        rest = data[offset:]
        if len(rest) % 2:
            raise GattParseError("odd number of bytes in RR intervals")
        rr = tuple(v / RR_UNIT for (v,) in struct.iter_unpack("<H", rest))
    return HeartRateMeasurement(bpm, contact, energy, rr)


def parse_temperature(data: bytes) -> float:
    """Temperature (0x2A6E): sint16 in 0.01 °C."""
    if len(data) != 2:
        raise GattParseError(f"temperature needs 2 bytes, got {len(data)}")
    return round(int.from_bytes(data, "little", signed=True) * 0.01, 2)


def parse_humidity(data: bytes) -> float:
    """Humidity (0x2A6F): uint16 in 0.01 %."""
    if len(data) != 2:
        raise GattParseError(f"humidity needs 2 bytes, got {len(data)}")
    return round(int.from_bytes(data, "little") * 0.01, 2)


def parse_battery(data: bytes) -> float:
    """Battery Level (0x2A19): uint8 percent, 0-100."""
    if len(data) != 1 or data[0] > 100:
        raise GattParseError("battery level must be one byte of 0-100")
    return float(data[0])


class CodecReading(NamedTuple):
    """A value a bridge codec decoded from the UART byte stream."""

    quantity: str
    value: float
    unit: str = ""


class BridgeCodec(Protocol):
    """Sans-I/O decoder of the bytes a board sends over the Nordic UART Service."""

    def feed(self, data: bytes) -> list[CodecReading]:
        """Take the next bytes; return the readings they completed."""
        ...


class TextLineCodec:
    """The bridge's plain text mode: lines of ``name=value`` pairs (``temp=21.5 hum=40``).

    A line longer than ``max_line`` is discarded up to its end; pairs that do not parse are counted.
    """

    def __init__(self, max_line: int = 256) -> None:
        self.max_line = max_line
        self.bad_pairs = 0
        self.overlong = 0
        self._buffer = bytearray()
        self._skipping = False

    def feed(self, data: bytes) -> list[CodecReading]:
        """Split ``data`` into lines and decode the complete ones."""
        out: list[CodecReading] = []
        buffer = self._buffer
        buffer += data
        while (end := buffer.find(b"\n")) >= 0:
            line = bytes(buffer[:end])
            del buffer[: end + 1]
            if self._skipping:
                self._skipping = False
                continue
            out.extend(self._line(line))
        if len(buffer) > self.max_line:
            buffer.clear()
            self._skipping = True
            self.overlong += 1
        return out

    def _line(self, line: bytes) -> list[CodecReading]:
        out: list[CodecReading] = []
        for pair in line.decode("utf-8", "replace").split():
            key, sep, text = pair.partition("=")
            if not sep or not key.isidentifier():
                self.bad_pairs += 1
                continue
            try:
                out.append(CodecReading(key.lower(), float(text)))
            except ValueError:
                self.bad_pairs += 1
        return out


class GattClient(Protocol):
    """The part of bleak's ``BleakClient`` the runner uses."""

    @property
    def is_connected(self) -> bool:
        """True while connected."""
        ...

    async def start_notify(self, char_specifier: Any, callback: Callable[[Any, bytearray], None]) -> None:
        """Subscribe to notifications of a characteristic (by UUID)."""
        ...

    async def read_gatt_char(self, char_specifier: Any) -> bytearray:
        """Read a characteristic (by UUID)."""
        ...

    async def disconnect(self) -> None:
        """Disconnect (idempotent)."""
        ...


class GattConnector(Protocol):
    """Connects to a device by address; ``on_disconnect`` is called when the link drops."""

    async def connect(self, address: str, name: str, on_disconnect: Callable[[], None]) -> GattClient:
        """Connect, or raise bleak's error."""
        ...


class BleakGattConnector:
    """Connections through ``bleak_retry_connector.establish_connection`` on one adapter."""

    def __init__(self, adapter: str = "hci0", find_timeout: float = 20.0) -> None:
        self.adapter = adapter
        self.find_timeout = find_timeout

    async def connect(self, address: str, name: str, on_disconnect: Callable[[], None]) -> GattClient:
        """Find the device by address, then connect with retries and BlueZ's service cache."""
        from bleak import BleakScanner
        from bleak_retry_connector import (
            BleakClientWithServiceCache,
            BleakNotFoundError,
            establish_connection,
        )

        device = await BleakScanner.find_device_by_address(
            address, timeout=self.find_timeout, bluez={"adapter": self.adapter}
        )
        if device is None:
            raise BleakNotFoundError(f"{name} is not in range")
        return await establish_connection(
            BleakClientWithServiceCache, device, name, disconnected_callback=lambda _client: on_disconnect()
        )


Emit = Callable[[str, str, float, str, float, dict[str, str]], None]


@dataclass(slots=True)
class GattDevice:
    """A configured GATT device: which services to read, how often to poll the readable ones."""

    name: str
    address: str
    services: Sequence[str] = ("battery",)
    poll_interval: float = 60.0
    codec_factory: Callable[[], BridgeCodec] = TextLineCodec


@dataclass
class GattDeviceRunner:
    """Keeps one GATT device connected (within the shared connection cap) and its values flowing."""

    device: GattDevice
    connector: GattConnector
    slots: asyncio.Semaphore
    emit: Emit
    stats: dict[str, int]
    clock: Clock = field(default_factory=SystemClock)
    backoff: Backoff = field(default_factory=lambda: Backoff(base=2.0, cap=120.0))
    streams: dict[str, str] = field(default_factory=dict)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    _failing: bool = False

    async def run(self) -> None:
        """Connect, serve, and reconnect with backoff until cancelled."""
        while True:
            if self.slots.locked():
                self._bump("gatt_waiting_for_slot")
            async with self.slots:
                try:
                    await self._session()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - a device failing is counted and retried
                    self._failed(exc)
            await self.clock.sleep(self.backoff.next_delay())

    async def _session(self) -> None:
        dropped = asyncio.Event()
        client = await self.connector.connect(self.device.address, self.device.name, dropped.set)
        self._bump("gatt_connects")
        if self._failing:
            self._failing = False
            log.info("GATT device %s is connected again", self.device.name)
        self.backoff.reset()
        reason = "link dropped"
        try:
            await self._subscribe(client)
            self.connected.set()
            await self._serve(client, dropped)
        except Exception as exc:  # noqa: BLE001 - a failure while connected is a drop: reconnect
            reason = f"{type(exc).__name__}: {exc}"
        finally:
            self.connected.clear()
            with contextlib.suppress(Exception):  # the link may be gone already; cleanup is best effort
                await client.disconnect()
        self._bump("gatt_drops")
        if not self._failing:
            log.warning(
                "GATT device %s disconnected (%s); reconnecting with backoff", self.device.name, reason
            )
            self._failing = True

    async def _subscribe(self, client: GattClient) -> None:
        services = self.device.services
        if "heart_rate" in services:
            await client.start_notify(HEART_RATE_MEASUREMENT, self._on_heart_rate)
        if "nus" in services:
            codec = self.device.codec_factory()
            await client.start_notify(NUS_TX, lambda _char, data: self._on_uart(codec, bytes(data)))

    async def _serve(self, client: GattClient, dropped: asyncio.Event) -> None:
        polled = [
            (char, quantity, unit, parse)
            for service, char, quantity, unit, parse in _POLLED
            if service in self.device.services
        ]
        while not dropped.is_set():
            for char, quantity, unit, parse in polled:
                raw = await client.read_gatt_char(char)
                try:
                    value = parse(bytes(raw))
                except GattParseError:
                    self._bump("gatt_malformed")
                    continue
                self.emit(self.device.name, quantity, value, unit, time.time(), self.streams)
            if not polled:
                await dropped.wait()
                return
            waiter = asyncio.ensure_future(dropped.wait())
            sleeper = asyncio.ensure_future(self.clock.sleep(self.device.poll_interval))
            try:
                await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
                sleeper.cancel()

    def _on_heart_rate(self, _char: Any, data: bytearray) -> None:
        try:
            m = parse_heart_rate(bytes(data))
        except GattParseError:
            self._bump("gatt_malformed")
            return
        now = time.time()
        name, emit, streams = self.device.name, self.emit, self.streams
        emit(name, "heart_rate", float(m.bpm), "bpm", now, streams)
        if m.contact is not None:
            emit(name, "sensor_contact", 1.0 if m.contact else 0.0, "", now, streams)
        if m.energy_kj is not None:
            emit(name, "energy_expended", float(m.energy_kj), "kJ", now, streams)
        # The intervals end at the latest beat; stamp each at its own end so none overwrites another.
        ends = now - sum(m.rr_intervals)
        for rr in m.rr_intervals:
            ends += rr
            emit(name, "rr_interval", rr, "s", ends, streams)

    def _on_uart(self, codec: BridgeCodec, data: bytes) -> None:
        now = time.time()
        for quantity, value, unit in codec.feed(data):
            self.emit(self.device.name, quantity, value, unit, now, self.streams)

    def _failed(self, exc: BaseException) -> None:
        fault = classify(exc)
        self._bump("gatt_no_slots" if fault == "no_slots" else "gatt_connect_errors")
        if not self._failing:
            log.warning("GATT device %s: cannot connect (%s); retrying with backoff", self.device.name, fault)
            self._failing = True

    def _bump(self, counter: str) -> None:
        self.stats[counter] = self.stats.get(counter, 0) + 1


_POLLED: tuple[tuple[str, str, str, str, Callable[[bytes], float]], ...] = (
    ("environmental", TEMPERATURE, "temperature", "°C", parse_temperature),
    ("environmental", HUMIDITY, "humidity", "%", parse_humidity),
    ("battery", BATTERY_LEVEL, "battery", "%", parse_battery),
)
