"""GATT devices: connect with ``bleak-retry-connector``, subscribe or poll, reconnect on a drop.

Pure parsers of the standard characteristics (Heart Rate Measurement, Environmental Sensing
temperature and humidity, Battery Level) sit next to the transport. The Nordic UART Service
carries the firmware bridge protocol: a sans-I/O ``BridgeCodec`` takes the bytes the board
notifies on TX and returns readings and the bytes owed to the board, which are written to RX in
chunks that fit the link's MTU (``FramedBridgeCodec`` for framed boards, ``TextBridgeCodec`` for
sketches that print ``temp=21.5 hum=40`` lines). A semaphore caps simultaneous connections.

A framed board takes commands as a serial board does (``GattDeviceRunner.send_command``: wait for
the ACK, resend the same frame, raise ``BoardCommandError``), through ``agent.sources.board_commands``.
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

from agent.aio import cancel_requested
from agent.backoff import Backoff
from agent.errors import BoardCommandError
from agent.sources.ble.advert import Clock, SystemClock
from agent.sources.ble.watchdog import classify
from agent.sources.board_commands import PendingCommands
from agent.sources.bridge_readings import sensor_values
from firmware_bridge import (
    Ack,
    Dropped,
    Error,
    Hello,
    HostSession,
    Log,
    Readings,
    TextComment,
    TextDecoder,
    TextValues,
    VersionRefused,
)
from firmware_bridge import Reading as BoardReading
from firmware_bridge.messages import Scalar
from firmware_bridge.session import STAT_KEYS

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
    age: float = 0.0  # seconds between the board taking the value and sending it


class BridgeCodec(Protocol):
    """Sans-I/O codec of a board's Nordic UART Service link: bytes in, readings and replies out."""

    stats: dict[str, int]  # counters for the device's health row; they survive reconnects

    @property
    def identified(self) -> bool:
        """True once the board has said who it is (at once for a mode without a handshake)."""
        ...

    def connect(self) -> bytes:
        """Start over on a fresh connection; return the bytes to write to the board first."""
        ...

    def feed(self, data: bytes) -> list[CodecReading]:
        """Take the next bytes the board notified; return the readings they completed."""
        ...

    def data_to_send(self) -> bytes:
        """Bytes owed to the board (replies, commands) since the last call."""
        ...


TEXT_STATS = ("text_lines", "text_errors")
FRAMED_STATS = (*STAT_KEYS, "unknown_sensor", "board_errors", "commands_acked", "commands_refused")


class TextBridgeCodec:
    """The bridge's text mode (``temp=21.5 hum=40`` lines) over ``firmware_bridge.text.TextDecoder``."""

    def __init__(self, device: str = "") -> None:
        self.device = device
        self.decoder = TextDecoder()
        self.stats: dict[str, int] = dict.fromkeys(TEXT_STATS, 0)

    @property
    def identified(self) -> bool:
        """Always: text mode has no handshake."""
        return True

    def connect(self) -> bytes:
        """Forget a partial line; a text board needs no handshake."""
        self.decoder.reset()
        return b""

    def feed(self, data: bytes) -> list[CodecReading]:
        """Decode the lines ``data`` completes; a line that does not parse is counted and skipped."""
        out: list[CodecReading] = []
        for event in self.decoder.events(data):
            if type(event) is TextValues:
                self.stats["text_lines"] += 1
                out.extend(CodecReading(quantity, value, unit) for quantity, unit, value in event.values)
            elif type(event) is Dropped:
                self.stats["text_errors"] += 1
                log.debug("board %s: skipped a line: %s", self.device, event.error)
            elif type(event) is TextComment:
                log.info("board %s: %s", self.device, event.text)
        return out

    def data_to_send(self) -> bytes:
        """Nothing: text mode is one way."""
        return b""


class FramedBridgeCodec:
    """The framed bridge protocol over ``firmware_bridge.HostSession``; readings take HELLO's units."""

    def __init__(self, device: str = "") -> None:
        self.device = device
        self.session = HostSession()
        self.stats: dict[str, int] = dict.fromkeys(FRAMED_STATS, 0)
        self._commands = bytearray()
        self._acks: list[Ack] = []
        self._refused = False

    @property
    def hello(self) -> Hello | None:
        """The board's HELLO on this connection (None until it has identified itself)."""
        return self.session.hello

    @property
    def identified(self) -> bool:
        """True once the board's HELLO (of a protocol this hub speaks) arrived on this connection."""
        return self.session.hello is not None

    def connect(self) -> bytes:
        """Start over on a fresh connection; return the HELLO_REQUEST to write."""
        # Replies and commands owed on the last connection are about frames long gone; a command's
        # sender has been told that link was lost, so it must not run later on this one.
        self.session.data_to_send()
        self._commands.clear()
        self._acks.clear()
        return self.session.connect()

    def command(self, name: str, arg: Scalar | None = None) -> tuple[int, bytes]:
        """A COMMAND frame with a fresh sequence number: ``(seq, wire bytes)``; ``send`` queues it."""
        return self.session.command(name, arg)

    def send(self, frame: bytes) -> None:
        """Queue ``frame`` (a COMMAND, or its resend) for ``data_to_send``."""
        self._commands += frame

    def take_acks(self) -> list[Ack]:
        """The ACKs the board sent since the last call, oldest first."""
        acks, self._acks = self._acks, []
        return acks

    def data_to_send(self) -> bytes:
        """Replies and commands owed to the board since the last call."""
        out = self.session.data_to_send() + self._commands
        self._commands.clear()
        return out

    def feed(self, data: bytes) -> list[CodecReading]:
        """Decode ``data``; return the readings of an identified board, mapped through its HELLO."""
        out: list[CodecReading] = []
        for message in self.session.receive(data):
            if isinstance(message, Readings | BoardReading):
                hello = self.session.hello
                if hello is None:
                    continue
                values, unknown = sensor_values(hello, message)
                self.stats["unknown_sensor"] += unknown
                out.extend(CodecReading(v.quantity, v.value, v.unit, v.age) for v in values)
            else:
                self._handle(message)
        self.stats.update(self.session.stats)
        return out

    def _handle(self, message: object) -> None:
        if isinstance(message, Hello):
            self._refused = False
            log.info("board %s: %s, firmware %s", self.device, message.board_id, message.firmware)
        elif isinstance(message, Ack):
            # The sender of the command reports a refusal; logging it here too would say it twice.
            self.stats["commands_refused" if message.status else "commands_acked"] += 1
            self._acks.append(message)
        elif isinstance(message, Log):
            log.log(_LOG_LEVELS[message.level], "board %s: %s", self.device, message.text)
        elif isinstance(message, Error):
            self.stats["board_errors"] += 1
            log.warning("board %s reports error %d: %s", self.device, message.code, message.text)
        elif isinstance(message, VersionRefused) and not self._refused:
            self._refused = True
            log.warning("board %s: %s; flash firmware matching this hub's protocol", self.device, message)


_LOG_LEVELS = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR)
NUS_MODES: dict[str, Callable[[str], BridgeCodec]] = {"framed": FramedBridgeCodec, "text": TextBridgeCodec}
DEFAULT_WRITE_SIZE = 20  # ATT_MTU 23 minus the 3-byte header: what every link carries


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

    async def write_gatt_char(self, char_specifier: Any, data: bytes, response: bool) -> None:
        """Write a characteristic (by UUID), with or without the peripheral's acknowledgement."""
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
    codec_factory: Callable[[str], BridgeCodec] = FramedBridgeCodec  # called with the device name
    handshake_timeout: float = 5.0  # a framed NUS board must answer HELLO_REQUEST within this
    command_timeout: float = 1.0  # wait this long for each ACK of a COMMAND ...
    command_retries: int = 2  # ... and resend it this many times


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
    codec: BridgeCodec | None = None
    _to_board: asyncio.Event = field(default_factory=asyncio.Event)
    _failing: bool = False
    _commands: PendingCommands | None = None

    def __post_init__(self) -> None:
        if "nus" in self.device.services:
            self.codec = self.device.codec_factory(self.device.name)
            self._publish_codec()
        if isinstance(self.codec, FramedBridgeCodec):
            self._commands = PendingCommands(
                self.device.name,
                self.stats,
                timeout=self.device.command_timeout,
                retries=self.device.command_retries,
                prefix=f"{self.device.name}.",
                sleep=self.clock.sleep,
            )

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
                except Exception as exc:
                    if cancel_requested():
                        raise asyncio.CancelledError from exc
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
            async with asyncio.TaskGroup() as group:
                codec = self.codec
                writer = group.create_task(self._write_uart(client, codec)) if codec is not None else None
                await self._serve(client, dropped)
                if writer is not None:
                    writer.cancel()
        except Exception as exc:  # noqa: BLE001 - a failure while connected is a drop: reconnect
            while isinstance(exc, ExceptionGroup):
                exc = exc.exceptions[0]
            reason = f"{type(exc).__name__}: {exc}"
        finally:
            self.connected.clear()
            if self._commands is not None:
                self._commands.link_lost()
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
        codec = self.codec
        if codec is not None:
            await client.start_notify(NUS_TX, lambda _char, data: self._on_uart(codec, bytes(data)))
            await self._write_chunks(client, codec.connect())

    async def send_command(self, name: str, arg: Scalar | None = None) -> Ack:
        """Send ``name`` to a framed NUS board and return its ACK; raise ``BoardCommandError`` if it fails.

        Waits ``command_timeout`` for the ACK and resends the same frame up to ``command_retries``
        times, as over serial. Text-mode boards stay one way: the text protocol has no frames and no
        ACK, so nothing could confirm a command; they take none (``BoardCommandError``), as over serial.
        """
        codec, commands = self.codec, self._commands
        if codec is None:
            raise BoardCommandError(f"GATT device {self.device.name} has no Nordic UART link")
        if not isinstance(codec, FramedBridgeCodec) or commands is None:
            raise BoardCommandError(f"board {self.device.name} is in text mode, which takes no commands")
        if not self.connected.is_set() or codec.hello is None:
            raise BoardCommandError(f"board {self.device.name} is not connected")
        seq, frame = codec.command(name, arg)

        def transmit() -> bool:
            if not self.connected.is_set():
                return False
            codec.send(frame)
            self._to_board.set()
            return True

        return await commands.send(name, seq, transmit)

    async def _write_uart(self, client: GattClient, codec: BridgeCodec) -> None:
        """Write what the codec owes the board to NUS RX as notifications leave some; insist on a HELLO."""
        handshake: asyncio.Future[None] | None = None
        if not codec.identified:
            handshake = asyncio.ensure_future(self.clock.sleep(self.device.handshake_timeout))
        try:
            while True:
                wake = asyncio.ensure_future(self._to_board.wait())
                try:
                    await asyncio.wait(
                        {wake} | ({handshake} if handshake else set()), return_when="FIRST_COMPLETED"
                    )
                finally:
                    wake.cancel()
                if self._to_board.is_set():
                    self._to_board.clear()
                    await self._write_chunks(client, codec.data_to_send())
                if handshake is not None and codec.identified:
                    handshake.cancel()
                    handshake = None
                elif handshake is not None and handshake.done():
                    self._bump("nus_handshake_timeouts")
                    raise TimeoutError(
                        f"no HELLO within {self.device.handshake_timeout:g} s; is the board running "
                        'hearth firmware? (a plain text sketch needs nus_mode = "text")'
                    )
        finally:
            if handshake is not None:
                handshake.cancel()

    async def _write_chunks(self, client: GattClient, data: bytes) -> None:
        size = _write_size(client)
        for start in range(0, len(data), size):
            await client.write_gatt_char(NUS_RX, data[start : start + size], response=True)
            self._bump("nus_writes")

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
        for quantity, value, unit, age in codec.feed(data):
            self.emit(self.device.name, quantity, value, unit, now - age, self.streams)
        if self._commands is not None and isinstance(codec, FramedBridgeCodec):
            for ack in codec.take_acks():
                self._commands.acked(ack)
        self._publish_codec()
        self._to_board.set()

    def _publish_codec(self) -> None:
        assert self.codec is not None
        name, stats = self.device.name, self.stats
        for key, count in self.codec.stats.items():
            stats[f"{name}.{key}"] = count

    def _failed(self, exc: BaseException) -> None:
        fault = classify(exc)
        self._bump("gatt_no_slots" if fault == "no_slots" else "gatt_connect_errors")
        if not self._failing:
            log.warning("GATT device %s: cannot connect (%s); retrying with backoff", self.device.name, fault)
            self._failing = True

    def _bump(self, counter: str) -> None:
        self.stats[counter] = self.stats.get(counter, 0) + 1


def _write_size(client: GattClient) -> int:
    """Bytes per write to NUS RX: the negotiated ATT MTU less its header where BlueZ reports it."""
    services = getattr(client, "services", None)
    get = getattr(services, "get_characteristic", None)
    characteristic = get(NUS_RX) if get is not None else None
    size = getattr(characteristic, "max_write_without_response_size", None)
    return size if isinstance(size, int) and size > 0 else DEFAULT_WRITE_SIZE


_POLLED: tuple[tuple[str, str, str, str, Callable[[bytes], float]], ...] = (
    ("environmental", TEMPERATURE, "temperature", "°C", parse_temperature),
    ("environmental", HUMIDITY, "humidity", "%", parse_humidity),
    ("battery", BATTERY_LEVEL, "battery", "%", parse_battery),
)
