"""A board behind a GATT device's Nordic UART Service: the firmware bridge over BLE.

The board notifies on TX what it would print on a serial line; the host writes to RX. Everything
about the protocol is the sans-I/O ``agent.sources.board_link.BoardLink`` a serial board uses too
(framed or text mode); this module only moves bytes: notifications into the link, readings out
through the source's ``emit``, and what the link owes the board to RX in chunks that fit the link's
MTU. A framed board must say HELLO within ``handshake_timeout`` of connecting, and takes commands
as a serial board does (wait for the ACK, resend the same frame, raise ``BoardCommandError``),
through ``agent.sources.board_commands``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from agent.errors import BoardCommandError
from agent.sources.board_commands import PendingCommands
from agent.sources.board_link import BoardLink, Mode
from firmware_bridge import Ack
from firmware_bridge.messages import Scalar

log = logging.getLogger(__name__)

NUS_SERVICE = "6e400001-b5a3-f393-e0a9-e50e24dcca9e"
NUS_RX = "6e400002-b5a3-f393-e0a9-e50e24dcca9e"  # host writes here
NUS_TX = "6e400003-b5a3-f393-e0a9-e50e24dcca9e"  # device notifies here
DEFAULT_WRITE_SIZE = 20  # ATT_MTU 23 minus the 3-byte header: what every link carries

Emit = Callable[[str, str, float, str, float, dict[str, str]], None]
"""``emit(device, quantity, value, unit, ts, streams)``: one value into the source's sink."""
Sleep = Callable[[float], Awaitable[None]]


class UartClient(Protocol):
    """The part of bleak's ``BleakClient`` the UART link uses."""

    async def start_notify(self, char_specifier: Any, callback: Callable[[Any, bytearray], None]) -> None:
        """Subscribe to notifications of a characteristic (by UUID)."""
        ...

    async def write_gatt_char(self, char_specifier: Any, data: bytes, response: bool) -> None:
        """Write a characteristic (by UUID), with or without the peripheral's acknowledgement."""
        ...


class NusLink:
    """One GATT device's board: its ``BoardLink``, the commands waiting for ACKs, the writes to RX.

    Counters go into ``stats`` (the BLE source's) as ``<device>.<counter>``, next to the source's
    own ``nus_writes`` and ``nus_handshake_timeouts``.
    """

    def __init__(
        self,
        device: str,
        mode: Mode,
        *,
        stats: dict[str, int],
        emit: Emit,
        streams: dict[str, str],
        handshake_timeout: float,
        command_timeout: float,
        command_retries: int,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.device = device
        self.link = BoardLink(device, mode)
        self.handshake_timeout = handshake_timeout
        self.stats = stats
        self._emit = emit
        self._streams = streams
        self._sleep = sleep
        self._commands: PendingCommands | None = None
        if mode == "framed":
            self._commands = PendingCommands(
                device,
                stats,
                timeout=command_timeout,
                retries=command_retries,
                prefix=f"{device}.",
                sleep=sleep,
            )
        self._owed = asyncio.Event()  # bytes wait for the board in the link
        self._up = False
        self._refused = False
        self._publish()

    async def start(self, client: UartClient) -> None:
        """On a fresh connection: subscribe to TX and write what opens the link (framed: HELLO_REQUEST)."""
        await client.start_notify(NUS_TX, lambda _char, data: self.received(bytes(data)))
        await self._write(client, self.link.connect())
        self._up = True

    def lost(self) -> None:
        """The connection is gone: every command waiting for its ACK fails."""
        self._up = False
        if self._commands is not None:
            self._commands.link_lost()

    async def serve(self, client: UartClient) -> None:
        """Write what the link owes the board as it comes; ``TimeoutError`` if no HELLO comes in time."""
        link = self.link
        handshake: asyncio.Future[None] | None = None
        if not link.identified:
            handshake = asyncio.ensure_future(self._sleep(self.handshake_timeout))
        try:
            while True:
                wake = asyncio.ensure_future(self._owed.wait())
                try:
                    await asyncio.wait(
                        {wake} | ({handshake} if handshake else set()), return_when="FIRST_COMPLETED"
                    )
                finally:
                    wake.cancel()
                if self._owed.is_set():
                    self._owed.clear()
                    await self._write(client, link.data_to_send())
                if handshake is not None and link.identified:
                    handshake.cancel()
                    handshake = None
                elif handshake is not None and handshake.done():
                    self._bump("nus_handshake_timeouts")
                    raise TimeoutError(
                        f"no HELLO within {self.handshake_timeout:g} s; is the board running "
                        'hearth firmware? (a plain text sketch needs nus_mode = "text")'
                    )
        finally:
            if handshake is not None:
                handshake.cancel()

    def received(self, data: bytes) -> None:
        """Take the bytes the board notified on TX (bleak's notification callback; never blocks)."""
        link = self.link
        got = link.receive(data, time.time())
        if got.hello is not None:
            self._refused = False
            log.info("board %s: %s, firmware %s", self.device, got.hello.board_id, got.hello.firmware)
        if got.refused is not None and not self._refused:
            self._refused = True
            log.warning("board %s: %s; flash firmware matching this hub's protocol", self.device, got.refused)
        if self._commands is not None:
            for ack in got.acks:
                self._commands.acked(ack)
        infos = link.streams
        device, emit, streams = self.device, self._emit, self._streams
        for reading in got.readings:
            info = infos[reading.stream]
            emit(device, info.quantity, reading.value, info.unit, reading.ts, streams)
        self._publish()
        self._owed.set()

    async def send_command(self, name: str, arg: Scalar | None = None) -> Ack:
        """Send ``name`` to a framed board and return its ACK; raise ``BoardCommandError`` if it fails.

        Waits ``command_timeout`` for the ACK and resends the same frame up to ``command_retries``
        times, as over serial. Text-mode boards stay one way: the text protocol has no frames and no
        ACK, so nothing could confirm a command; they take none, as over serial.
        """
        seq, frame = self.link.command(name, arg)  # raises in text mode, or before the HELLO
        if not self._up or self._commands is None:
            raise BoardCommandError(f"board {self.device} is not connected")

        def transmit() -> bool:
            if not self._up:
                return False
            self.link.send(frame)
            self._owed.set()
            return True

        return await self._commands.send(name, seq, transmit)

    async def _write(self, client: UartClient, data: bytes) -> None:
        size = write_size(client)
        for start in range(0, len(data), size):
            await client.write_gatt_char(NUS_RX, data[start : start + size], response=True)
            self._bump("nus_writes")

    def _publish(self) -> None:
        name, stats = self.device, self.stats
        for key, count in self.link.stats.items():
            stats[f"{name}.{key}"] = count

    def _bump(self, counter: str) -> None:
        self.stats[counter] = self.stats.get(counter, 0) + 1


def write_size(client: object) -> int:
    """Bytes per write to NUS RX: the negotiated ATT MTU less its header where BlueZ reports it."""
    services = getattr(client, "services", None)
    get = getattr(services, "get_characteristic", None)
    characteristic = get(NUS_RX) if get is not None else None
    size = getattr(characteristic, "max_write_without_response_size", None)
    return size if isinstance(size, int) and size > 0 else DEFAULT_WRITE_SIZE
