"""The serial source: one board on one port, read through the sans-I/O ``agent.sources.board_link``.

A connection goes through ``agent.reconnect.ReconnectLogic``: open the port → handshake
(HELLO_REQUEST, wait for HELLO within ``handshake_timeout``) → stream readings → lost (unplug, I/O
error) → wait with capped, jittered backoff → open again. Counters live in the sink's ``stats`` and
survive reconnects.
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
from agent.reconnect import ReconnectLogic
from agent.sources.board_commands import COMMAND_STATS, PendingCommands
from agent.sources.board_link import BoardLink, Received
from firmware_bridge import Ack, Hello
from firmware_bridge.messages import Scalar

log = logging.getLogger(__name__)

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]
Opener = Callable[[str, int], Awaitable[Streams]]

SERIAL_STATS = ("connects", "disconnects", "handshake_timeouts", *COMMAND_STATS)
"""The port's own counters, next to the board link's (``agent.sources.board_link``)."""


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
        self.link = BoardLink(self.name, config.mode)
        self.connected = asyncio.Event()
        self.stats: dict[str, int] = {**self.link.stats, **dict.fromkeys(SERIAL_STATS, 0)}
        self._opener = opener or open_serial
        self._handshake_timeout = seconds(config.handshake_timeout)
        self.reconnect = ReconnectLogic(
            f"serial board {self.name} on {config.port}",
            Backoff(base=0.2, cap=max(0.2, seconds(config.reconnect_max))),
            logger=log,
        )
        self._writer: asyncio.StreamWriter | None = None
        self._commands = PendingCommands(
            self.name, self.stats, timeout=seconds(config.command_timeout), retries=config.command_retries
        )
        self._changed = asyncio.Event()

    # -- running -------------------------------------------------------------------------------------

    async def run(self, sink: Sink) -> None:
        """Read the board until cancelled, reconnecting with backoff whenever the link is lost."""
        sink.stats = self.stats

        async def session() -> None:
            try:
                await self._connection(sink)
            finally:
                self._disconnected()
                self._notify()

        await self.reconnect.run(session, outages=(SourceError,))

    def _disconnected(self) -> None:
        if self._writer is not None:
            self.stats["disconnects"] += 1
            self._writer.close()
            self._writer = None
        self.connected.clear()
        self._commands.link_lost()

    @property
    def board(self) -> Hello | None:
        """The latest HELLO of the board on this port (kept while it is unplugged)."""
        return self.link.board

    async def _connection(self, sink: Sink) -> None:
        reader, writer = await self._opener(self.config.port, self.config.baud)
        self._writer = writer
        self.stats["connects"] += 1
        writer.write(self.link.connect())
        try:
            async with asyncio.timeout(self._handshake_timeout):
                while not self.link.identified:  # text mode has no handshake
                    await self._pump(reader, writer, sink)
        except TimeoutError:
            self.stats["handshake_timeouts"] += 1
            raise SourceError(
                f"no HELLO within {self.config.handshake_timeout}",
                hint='is the board running hearth firmware? a plain text sketch needs mode = "text"',
            ) from None
        hello = self.link.hello
        self.reconnect.connected(
            "text mode" if hello is None else f"board {hello.board_id}, firmware {hello.firmware}"
        )
        self.connected.set()
        while True:
            await self._pump(reader, writer, sink)

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
        got = self.link.receive(data, time.time())
        reply = self.link.data_to_send()
        if reply:
            writer.write(reply)
        self.stats.update(self.link.stats)
        self._notify()
        self._check(got)
        for ack in got.acks:
            self._commands.acked(ack)
        for info in got.declared:
            sink.declare(info)
        for reading in got.readings:
            await sink.put(reading)

    def _check(self, got: Received) -> None:
        if got.refused is not None:
            raise SourceError(
                str(got.refused),
                hint="flash firmware matching this hub's protocol (hearth board install)",
            )
        wanted = self.config.board_id
        if got.hello is not None and wanted and got.hello.board_id != wanted:
            raise SourceError(
                f"port {self.config.port} has board {got.hello.board_id!r}, expected {wanted!r}",
                hint="check the port path, or change board_id in the config",
            )

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
        seq, frame = self.link.command(name, arg)  # raises in text mode, or before the HELLO
        if self._writer is None:
            raise BoardCommandError(f"board {self.name} is not connected")

        def transmit() -> bool:
            if self._writer is None:
                return False
            self.link.send(frame)
            self._writer.write(self.link.data_to_send())
            return True

        return await self._commands.send(name, seq, transmit)
