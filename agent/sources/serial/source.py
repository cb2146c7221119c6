"""The serial source: one board on one port, read through the sans-I/O codec in ``firmware_bridge``.

A connection is a small state machine: open the port → handshake (HELLO_REQUEST, wait for HELLO
within ``handshake_timeout``) → stream readings → lost (unplug, I/O error) → wait with capped,
jittered backoff → open again. Counters live in the sink's ``stats`` and survive reconnects.
``send_command`` sends a COMMAND and waits for its ACK, resending the same sequence number (the
board answers a repeat without doing it twice); ``agent.sources.board_commands`` holds that logic,
shared with Nordic UART boards over BLE.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from agent.backoff import Backoff
from agent.config import seconds
from agent.config.schema import SerialSourceConfig
from agent.errors import BoardCommandError, SourceError
from agent.pipeline.sink import OverflowPolicy, Sink
from agent.readings import Reading, StreamInfo, next_stamp
from agent.sources.board_commands import COMMAND_STATS, PendingCommands
from agent.sources.bridge_readings import board_streams, sensor_values
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

log = logging.getLogger(__name__)

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]
Opener = Callable[[str, int], Awaitable[Streams]]

SERIAL_STATS = (
    "connects",
    "disconnects",
    "handshake_timeouts",
    "unknown_sensor",
    "board_errors",
    *COMMAND_STATS,
    "text_lines",
    "text_errors",
)
_LOG_LEVELS = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR)


async def open_serial(port: str, baud: int) -> Streams:
    """Open ``port`` with pyserial-asyncio-fast; raise ``SourceError`` naming the port if it cannot."""
    import serial
    import serial_asyncio_fast

    try:
        reader, writer = await serial_asyncio_fast.open_serial_connection(url=port, baudrate=baud)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise SourceError(
            f"cannot open serial port {port}: {exc}",
            hint="is the board plugged in? list ports with: hearth board list",
        ) from exc
    return reader, writer


class SerialSource:
    """A serial board as a source: streams ``<name>.<quantity>`` with units from its HELLO."""

    kind = "serial"

    def __init__(self, config: SerialSourceConfig, *, opener: Opener | None = None) -> None:
        self.config = config
        self.name = config.name
        self.overflow: OverflowPolicy = config.overflow
        self.session = HostSession()
        self.board: Hello | None = None
        self.connected = asyncio.Event()
        self.stats: dict[str, int] = {**self.session.stats, **dict.fromkeys(SERIAL_STATS, 0)}
        self._opener = opener or open_serial
        self._handshake_timeout = seconds(config.handshake_timeout)
        self._backoff = Backoff(base=0.2, cap=max(0.2, seconds(config.reconnect_max)))
        self._writer: asyncio.StreamWriter | None = None
        self._commands = PendingCommands(
            self.name, self.stats, timeout=seconds(config.command_timeout), retries=config.command_retries
        )
        self._streams: list[str] = []
        self._last_ts: list[float] = []
        self._text_streams: set[str] = set()
        self._text_last: dict[str, float] = {}
        self._failing = False
        self._changed = asyncio.Event()

    # -- running -------------------------------------------------------------------------------------

    async def run(self, sink: Sink) -> None:
        """Read the board until cancelled, reconnecting with backoff whenever the link is lost."""
        sink.stats = self.stats
        while True:
            try:
                await self._connection(sink)
            except SourceError as exc:
                self._lost(str(exc))
            finally:
                self._disconnected()
                self._notify()
            await asyncio.sleep(self._backoff.next_delay())

    def _lost(self, why: str) -> None:
        if not self._failing:
            log.warning(
                "serial board %s on %s: %s; reconnecting with backoff", self.name, self.config.port, why
            )
        else:
            log.debug("serial board %s still unavailable: %s", self.name, why)
        self._failing = True

    def _disconnected(self) -> None:
        if self._writer is not None:
            self.stats["disconnects"] += 1
            self._writer.close()
            self._writer = None
        self.connected.clear()
        self._commands.link_lost()

    async def _connection(self, sink: Sink) -> None:
        reader, writer = await self._opener(self.config.port, self.config.baud)
        self._writer = writer
        self.stats["connects"] += 1
        if self.config.mode == "text":
            self._up("text mode")
            await self._serve_text(reader, sink)
            return
        writer.write(self.session.connect())
        try:
            async with asyncio.timeout(self._handshake_timeout):
                while self.session.hello is None:
                    await self._pump(reader, writer, sink)
        except TimeoutError:
            self.stats["handshake_timeouts"] += 1
            raise SourceError(
                f"no HELLO within {self.config.handshake_timeout}",
                hint='is the board running hearth firmware? a plain text sketch needs mode = "text"',
            ) from None
        self._up(f"board {self.session.hello.board_id}, firmware {self.session.hello.firmware}")
        while True:
            await self._pump(reader, writer, sink)

    def _up(self, what: str) -> None:
        if self._failing:
            log.info("serial board %s on %s is back (%s)", self.name, self.config.port, what)
        else:
            log.info("serial board %s on %s: %s", self.name, self.config.port, what)
        self._failing = False
        self._backoff.reset()
        self.connected.set()

    async def _read(self, reader: asyncio.StreamReader) -> bytes:
        try:
            data = await reader.read(4096)
        except OSError as exc:  # pyserial's SerialException is an OSError
            raise SourceError(f"port lost: {exc}") from exc
        if not data:
            raise SourceError("port closed (unplugged?)")
        return data

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sink: Sink) -> None:
        data = await self._read(reader)
        messages = self.session.receive(data)
        reply = self.session.data_to_send()
        if reply:
            writer.write(reply)
        self.stats.update(self.session.stats)
        self._notify()
        if not messages:
            return
        now = time.time()
        for message in messages:
            if isinstance(message, Readings | BoardReading):
                if self.board is None:
                    continue
                # Looked up per message: a HELLO earlier in this same read may have changed the sensors.
                streams = self._streams
                last = self._last_ts
                values, unknown = sensor_values(self.board, message)
                self.stats["unknown_sensor"] += unknown
                for value in values:
                    # A stream's timestamps must increase: the store keeps one value per (stream, ts).
                    ts = next_stamp(now - value.age, last[value.sensor])
                    last[value.sensor] = ts
                    await sink.put(Reading(streams[value.sensor], ts, value.value))
            else:
                self._handle(message, sink)

    def _handle(self, message: object, sink: Sink) -> None:
        if isinstance(message, Hello):
            self._identified(message, sink)
        elif isinstance(message, Ack):
            self._commands.acked(message)
        elif isinstance(message, Log):
            log.log(_LOG_LEVELS[message.level], "board %s: %s", self.name, message.text)
        elif isinstance(message, Error):
            self.stats["board_errors"] += 1
            log.warning("board %s reports error %d: %s", self.name, message.code, message.text)
        elif isinstance(message, VersionRefused):
            raise SourceError(
                str(message),
                hint="flash firmware matching this hub's protocol (hearth board install)",
            )

    def _identified(self, hello: Hello, sink: Sink) -> None:
        wanted = self.config.board_id
        if wanted and hello.board_id != wanted:
            raise SourceError(
                f"port {self.config.port} has board {hello.board_id!r}, expected {wanted!r}",
                hint="check the port path, or change board_id in the config",
            )
        if self.board != hello:
            infos = board_streams(self.name, hello)
            for info in infos:
                sink.declare(info)
            self._streams = [info.name for info in infos]
            self._last_ts = [0.0] * len(hello.sensors)
        self.board = hello

    async def _serve_text(self, reader: asyncio.StreamReader, sink: Sink) -> None:
        decoder = TextDecoder()
        while True:
            events = decoder.events(await self._read(reader))
            now = time.time()
            for event in events:
                if type(event) is TextValues:
                    self.stats["text_lines"] += 1
                    for quantity, unit, value in event.values:
                        stream = f"{self.name}.{quantity}"
                        if stream not in self._text_streams:
                            self._text_streams.add(stream)
                            sink.declare(StreamInfo.of(self.name, quantity, unit))
                        ts = next_stamp(now, self._text_last.get(stream, 0.0))
                        self._text_last[stream] = ts
                        await sink.put(Reading(stream, ts, value))
                elif type(event) is TextComment:
                    log.info("board %s: %s", self.name, event.text)
                elif type(event) is Dropped:
                    self.stats["text_errors"] += 1
                    log.debug("board %s: skipped a line: %s", self.name, event.error)
            self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Wait until ``predicate()`` holds, checked after every read and every connection change."""
        while not predicate():
            await self._changed.wait()

    # -- commands ------------------------------------------------------------------------------------

    async def send_command(self, name: str, arg: Scalar | None = None) -> Ack:
        """Send ``name`` to the board and return its ACK; raise ``BoardCommandError`` if it fails.

        Waits ``command_timeout`` for the ACK and resends up to ``command_retries`` times.
        """
        if self._writer is None or self.session.hello is None or self.config.mode != "framed":
            raise BoardCommandError(
                f"board {self.name} is not connected"
                if self.config.mode == "framed"
                else f"board {self.name} is in text mode, which takes no commands"
            )
        seq, frame = self.session.command(name, arg)

        def transmit() -> bool:
            if self._writer is None:
                return False
            self._writer.write(frame)
            return True

        return await self._commands.send(name, seq, transmit)
