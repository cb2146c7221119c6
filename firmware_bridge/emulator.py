"""A board emulator on a pseudo-terminal: behaves as a board flashed with the reference firmware.

It announces itself with HELLO (and again on HELLO_REQUEST), sends readings from a table at a set
rate, ACKs commands (``toggle`` flips a pin, ``set`` sets it, ``hello`` re-announces), and on
request injects faults: garbage bytes, corrupted CRCs, dropped frames (sequence gaps) and
unplug/replug. With ``link`` it keeps a symlink pointing at its current pty, as udev keeps
``/dev/serial/by-id/...``, so a host can use one stable path across replugs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import tty
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

from cobs import cobs  # type: ignore[import-untyped]

from firmware_bridge import wire
from firmware_bridge.codec import FrameDecoder, encode, encode_body
from firmware_bridge.messages import (
    Ack,
    Command,
    Error,
    Frame,
    Hello,
    HelloRequest,
    Message,
    Reading,
    Readings,
    Sensor,
)

log = logging.getLogger(__name__)

BOOT_NOISE = b"ets Jan  8 2013,rst cause:2, boot mode:(3,6)\r\n"
_MAX_BACKLOG = 64 * 1024


class BoardEmulator:
    """An emulated board; ``async with BoardEmulator(...) as board:`` opens its pty (``board.path``)."""

    def __init__(
        self,
        sensors: Sequence[Sensor],
        rows: Sequence[Sequence[float]],
        *,
        board_id: str = "emu-0001",
        firmware: str = "1.0.0",
        protocol: int = wire.PROTOCOL_VERSION,
        rate: float = 10.0,
        batch: int = 1,
        text: bool = False,
        link: Path | None = None,
        wait_for_host: bool = True,
    ) -> None:
        if not rows:
            raise ValueError("the emulator needs at least one row of data")
        self.sensors = tuple(sensors)
        self.rows = [list(row) for row in rows]
        self.board_id = board_id
        self.firmware = firmware
        self.protocol = protocol
        self.rate = rate
        self.batch = max(1, min(batch, wire.MAX_BATCH // max(1, len(self.sensors))))
        self.text = text
        self.link = link
        # Streams only once a host has asked who we are (the reference firmware streams from boot, see
        # PROTOCOL.md "After a reset"): readings sent before the host opens the port are discarded by
        # the open, and tests compare what the board sent with what the host got.
        self.wait_for_host = wait_for_host and not text
        self._host_seen = False
        self.pin = False
        # What the board did, for tests and the CLI to compare with what the host saw.
        self.frames_sent = 0
        self.readings_sent = 0  # in frames that went out intact
        self.dropped = 0
        self.corrupted = 0
        self.garbage = 0
        self.plugged = 0
        self.commands: list[Command] = []
        self.errors: list[Error] = []
        self.paused = False
        self.overflowed = 0
        self._master: int | None = None
        self._slave: int | None = None
        self._tty_path = ""
        self._seq = 0
        self._row = 0
        self._drop_next = 0
        self._corrupt_next = 0
        self._ignore_commands = 0
        self._last_command_seq: int | None = None
        self._decoder = FrameDecoder()
        self._backlog = bytearray()
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    @classmethod
    def from_csv(cls, file: str, **options: object) -> BoardEmulator:
        """An emulator replaying a simulation CSV (``quantity[unit]`` header, ``builtin:NAME`` allowed)."""
        from agent.sources.simulated import load_table

        table = load_table("board", file)
        sensors = [Sensor(info.quantity, info.unit) for info in table.streams]
        return cls(sensors, table.rows, **options)  # type: ignore[arg-type]

    # -- lifecycle ---------------------------------------------------------------------------------

    @property
    def path(self) -> str:
        """Where a host opens the board: the stable link if there is one, else the pty itself."""
        return str(self.link) if self.link else self._tty_path

    @property
    def tty_path(self) -> str:
        """The current pty device (changes at every replug)."""
        return self._tty_path

    @property
    def streaming(self) -> bool:
        """True while the board sends readings: plugged, not paused, and (if it waits) asked by a host."""
        return self._master is not None and not self.paused and (self._host_seen or not self.wait_for_host)

    @property
    def is_plugged(self) -> bool:
        """True while the board's pty is open."""
        return self._master is not None

    async def __aenter__(self) -> BoardEmulator:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Plug the board in and start sending."""
        self._plug()
        self._task = asyncio.create_task(self._run(), name=f"emulator:{self.board_id}")

    async def stop(self) -> None:
        """Stop sending and unplug; safe to call twice."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._unplug()

    def unplug(self) -> None:
        """Pull the cable: close the pty (the host's reads fail) and remove the stable link."""
        self._unplug()
        self._notify()

    def replug(self) -> None:
        """Plug the cable back in: a new pty, the link moved to it, the board boots (seq from 0)."""
        if self._master is None:
            self._plug()
            self._notify()

    def _plug(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self._tty_path = os.ttyname(slave)
        if self.link is not None:
            tmp = self.link.with_name(self.link.name + ".new")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(self._tty_path)
            tmp.replace(self.link)
        self.plugged += 1
        self._seq = 0
        self._host_seen = False
        self._last_command_seq = None
        self._decoder.reset()
        self._backlog.clear()
        asyncio.get_running_loop().add_reader(master, self._on_readable)
        self._boot()

    def _unplug(self) -> None:
        if self._master is None:
            return
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._master)
        loop.remove_writer(self._master)
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()
        os.close(self._master)
        if self._slave is not None:
            os.close(self._slave)
        self._master = self._slave = None

    def _boot(self) -> None:
        if self.text:
            self._write(b"# booted\n")
        else:
            self.send(self._hello())

    def _hello(self) -> Hello:
        return Hello(self.board_id, self.firmware, self.protocol, self.sensors)

    # -- faults --------------------------------------------------------------------------------------

    def inject_garbage(self, data: bytes = BOOT_NOISE) -> None:
        """Write bytes that are not a frame (boot noise, a stray print) between two frames."""
        self.garbage += 1
        self._write(data)

    def corrupt_next(self, count: int = 1) -> None:
        """Damage the CRC of the next ``count`` frames."""
        self._corrupt_next += count

    def drop_next(self, count: int = 1) -> None:
        """Lose the next ``count`` frames on the wire (their sequence numbers are used up)."""
        self._drop_next += count

    def ignore_commands(self, count: int = 1) -> None:
        """Let the next ``count`` commands go unanswered, as if their frames were lost."""
        self._ignore_commands += count

    # -- sending -------------------------------------------------------------------------------------

    def send(self, message: Message) -> bool:
        """Send one message with the next sequence number, applying any pending fault.

        Returns True if the frame went out intact.
        """
        seq = self._seq
        self._seq = (seq + 1) % wire.SEQ_MODULO
        if self._drop_next:
            self._drop_next -= 1
            self.dropped += 1
            return False
        if self._corrupt_next:
            self._corrupt_next -= 1
            self.corrupted += 1
            body = bytearray(encode_body(message, seq))
            body[-1] ^= 0xFF
            self._write(b"\x00" + cobs.encode(bytes(body)) + b"\x00")
            return False
        self._write(encode(message, seq))
        self.frames_sent += 1
        return True

    def _write(self, data: bytes) -> None:
        if self._master is None:
            return
        if self._backlog:
            self._queue(data)
            return
        try:
            written = os.write(self._master, data)
        except BlockingIOError:
            written = 0
        except OSError:
            return
        if written < len(data):
            self._queue(data[written:])

    def _queue(self, data: bytes) -> None:
        # Nobody is reading the port: a real board's USB buffer overflows the same way.
        if len(self._backlog) + len(data) > _MAX_BACKLOG:
            self.overflowed += 1
            return
        first = not self._backlog
        self._backlog += data
        if first and self._master is not None:
            asyncio.get_running_loop().add_writer(self._master, self._flush)

    def _flush(self) -> None:
        if self._master is None:
            return
        try:
            written = os.write(self._master, self._backlog)
        except BlockingIOError:
            return
        except OSError:
            written = len(self._backlog)
        del self._backlog[:written]
        if not self._backlog:
            asyncio.get_running_loop().remove_writer(self._master)

    async def _run(self) -> None:
        period = 1.0 / self.rate
        next_at = time.monotonic()
        pending: list[tuple[float, list[float]]] = []
        while True:
            next_at += period
            delay = next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -1.0:
                next_at = time.monotonic()
            if not self.streaming:
                continue
            row = self.rows[self._row % len(self.rows)]
            self._row += 1
            if self.text:
                line = " ".join(
                    f"{s.quantity}[{s.unit}]={v:g}" if s.unit else f"{s.quantity}={v:g}"
                    for s, v in zip(self.sensors, row, strict=False)
                )
                self._write(line.encode() + b"\n")
                self.readings_sent += len(row)
            elif self.batch == 1:
                for index, value in enumerate(row[: len(self.sensors)]):
                    if self.send(Reading(index, value)):
                        self.readings_sent += 1
            else:
                pending.append((time.monotonic(), row))
                if len(pending) >= self.batch:
                    now = time.monotonic()
                    entries = tuple(
                        (index, value, int((now - at) * 1000))
                        for at, values in pending
                        for index, value in enumerate(values[: len(self.sensors)])
                    )
                    pending.clear()
                    if self.send(Readings(entries)):
                        self.readings_sent += len(entries)
            self._notify()

    # -- receiving -----------------------------------------------------------------------------------

    def _on_readable(self) -> None:
        if self._master is None:
            return
        try:
            data = os.read(self._master, 4096)
        except BlockingIOError:
            return
        except OSError:
            return  # no host has the port open
        if self.text:
            return
        for event in self._decoder.events(data):
            if type(event) is Frame:
                self._handle(event.seq, event.message)
        self._notify()

    def _handle(self, seq: int, message: Message) -> None:
        if isinstance(message, HelloRequest):
            self._host_seen = True
            self.send(self._hello())
            return
        if isinstance(message, Error):
            self.errors.append(message)
            return
        if not isinstance(message, Command):
            return
        if self._ignore_commands:
            self._ignore_commands -= 1
            return
        if seq == self._last_command_seq:
            self.send(Ack(seq, 0, "repeat"))  # a retry of a command already done: answer, do not redo
            return
        self._last_command_seq = seq
        self.commands.append(message)
        status, detail = self._execute(message)
        self.send(Ack(seq, status, detail))

    def _execute(self, command: Command) -> tuple[int, str]:
        if command.name == "toggle":
            self.pin = not self.pin
            return 0, "on" if self.pin else "off"
        if command.name == "set":
            if command.arg not in (0, 1):
                return wire.ERR_BAD_ARGUMENT, "set takes 0 or 1"
            self.pin = bool(command.arg)
            return 0, "on" if self.pin else "off"
        if command.name == "hello":
            self.send(self._hello())
            return 0, ""
        return wire.ERR_UNKNOWN_COMMAND, f"unknown command {command.name!r}"

    # -- waiting -------------------------------------------------------------------------------------

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Wait until ``predicate()`` holds (checked whenever the board sends or receives)."""
        while not predicate():
            await self._changed.wait()
