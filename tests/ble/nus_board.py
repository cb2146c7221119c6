"""A framed firmware bridge board on the fake BlueZ's Nordic UART Service, as the reference firmware."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from agent.sources.ble.nus import NUS_RX, NUS_SERVICE, NUS_TX
from firmware_bridge import Ack, Command, Frame, FrameDecoder, Hello, HelloRequest, Sensor, encode
from firmware_bridge.messages import Message
from tests.ble.bluez import FakeBluez

ERR_UNKNOWN_COMMAND = 2
ERR_BAD_ARGUMENT = 3


class NusBoard:
    """Reads what the host writes to RX, notifies HELLO and ACKs on TX; remembers the last command's seq.

    ``lose_commands`` makes the next COMMAND writes vanish on the air (the board never sees them);
    ``lose_acks`` loses the next ACKs on their way back (the board did run the command).
    """

    def __init__(self, bluez: FakeBluez, address: str, sensors: Sequence[Sensor], board_id: str) -> None:
        self.bluez = bluez
        self.address = address
        self.hello = Hello(board_id, "1.2.0", 1, tuple(sensors))
        self.pin = False
        self.lose_commands = 0
        self.lose_acks = 0
        self.received: list[tuple[int, Message]] = []  # every frame the host wrote, lost ones included
        self.ran: list[Command] = []  # commands carried out (a repeat is answered, not run again)
        self.acks: list[Ack] = []
        self._seq = 0
        self._last: tuple[int, int] | None = None  # (seq, status) of the last command run
        self._decoder = FrameDecoder()
        self._changed = asyncio.Event()

    async def add(self) -> None:
        """Make the board exist (connectable, with the Nordic UART Service) and advertise now and then."""
        nus = [(NUS_TX, "notify", b""), (NUS_RX, "write,write-without-response", b"")]
        await self.bluez.add_gatt_device(self.address, "Hearth nRF52", [(NUS_SERVICE, nus)])

    async def run(self) -> None:
        """Advertise while unconnected and answer the host until cancelled."""
        writes = await self.bluez.watch_writes(self.address, NUS_RX)
        async with asyncio.TaskGroup() as group:
            group.create_task(self._advertise())
            while True:
                data = await writes.get()
                for event in self._decoder.events(data):
                    if isinstance(event, Frame):
                        await self._handle(event.seq, event.message)
                self._notify()

    async def _advertise(self) -> None:
        while True:
            await self.bluez.advertise(self.address, "Hearth nRF52", uuid=NUS_SERVICE, data=b"")
            await asyncio.sleep(0.2)  # a period, as a real board's advertising interval

    async def send(self, message: Message) -> None:
        """Notify ``message`` on TX with the board's next seq, 20 bytes at a time (the default MTU)."""
        frame = encode(message, self._seq)
        self._seq = (self._seq + 1) % 65536
        for start in range(0, len(frame), 20):
            await self.bluez.notify(self.address, NUS_TX, frame[start : start + 20])

    async def _handle(self, seq: int, message: Message) -> None:
        self.received.append((seq, message))
        if isinstance(message, HelloRequest):
            await self.send(self.hello)
            return
        if not isinstance(message, Command):
            return
        if self.lose_commands:
            self.lose_commands -= 1
            return
        if self._last is not None and self._last[0] == seq:
            ack = Ack(seq, self._last[1], "repeat")
        else:
            self.ran.append(message)
            status, detail = self._run(message)
            self._last = (seq, status)
            ack = Ack(seq, status, detail)
        self.acks.append(ack)
        if self.lose_acks:
            self.lose_acks -= 1
            self._seq = (self._seq + 1) % 65536  # sent, but never arrived
            return
        await self.send(ack)

    def _run(self, command: Command) -> tuple[int, str]:
        if command.name == "set":
            if command.arg not in (0, 1):
                return ERR_BAD_ARGUMENT, "set takes 0 or 1"
            self.pin = bool(command.arg)
            return 0, "on" if self.pin else "off"
        return ERR_UNKNOWN_COMMAND, f"unknown command {command.name!r}"

    def commands(self) -> list[tuple[int, Command]]:
        """The COMMAND frames the host wrote, with their seq, in order."""
        return [(seq, m) for seq, m in self.received if isinstance(m, Command)]

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate()`` holds, checked after every write the host makes."""
        while not predicate():
            await self._changed.wait()
