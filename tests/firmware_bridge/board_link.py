"""A board's serial line for the firmware tests: a pty, the hub's serial source on it, a real store."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from agent.config.schema import SerialSourceConfig
from agent.pipeline.recorder import Recorder
from agent.pipeline.sink import Sink
from agent.sources.serial import SerialSource
from agent.store.readings import ReadingsStore, open_readings
from firmware_bridge import FrameDecoder, HelloRequest
from firmware_bridge.codec import Frame
from tests.testbed.wait import eventually


@dataclass
class Link:
    """The host's side (source, sink, store) and the board's side (``master``) of one serial line.

    Writing to ``master`` reaches the host, writing to ``slave`` reaches the board.
    """

    source: SerialSource
    sink: Sink
    store: ReadingsStore
    recorder: Recorder
    master: int
    slave: int
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def write_to_board(self, data: bytes) -> None:
        """Bytes on the line towards the board, as if the host had sent them."""
        os.write(self.slave, data)

    def write_to_host(self, data: bytes) -> None:
        """Bytes on the line towards the host, as if the board had sent them."""
        os.write(self.master, data)

    def notify(self) -> None:
        """Wake ``until`` waiters: something outside the source (the board's process) reported."""
        self.changed.set()
        self.changed = asyncio.Event()

    async def until(self, predicate: Callable[[], bool]) -> None:
        """Wait (at most 10 s) until ``predicate()`` holds, checked on every read and every ``notify``."""
        await eventually(predicate, within=10, woken_by=self.wait_for)

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate()`` holds, checked on every read and every ``notify``."""
        while not predicate():
            waiters = {
                asyncio.ensure_future(self.source.wait_for(predicate)),
                asyncio.ensure_future(self.changed.wait()),
            }
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()

    async def host_request(self) -> None:
        """Take the host's HELLO_REQUEST off the line before the board sees it (as a bootloader does)."""
        decoder = FrameDecoder()
        async with asyncio.timeout(10):
            while True:
                data = await asyncio.to_thread(os.read, self.master, 4096)
                events = decoder.events(data)
                if any(isinstance(e, Frame) and isinstance(e.message, HelloRequest) for e in events):
                    return

    def stored(self, stream: str) -> list[float]:
        """The values of ``stream`` in the store, oldest first (flush the recorder before)."""
        query = (
            "SELECT r.value FROM readings r JOIN streams s ON s.id = r.stream_id"
            " WHERE s.name = ? ORDER BY r.key"
        )
        return [value for (value,) in self.store.conn.execute(query, (stream,))]


@contextlib.asynccontextmanager
async def serial_link(tmp_path: Path, name: str) -> AsyncIterator[Link]:
    """A pty whose port the serial source ``name`` has opened, recording into a store in ``tmp_path``."""
    master, slave = os.openpty()
    tty.setraw(slave)
    store = open_readings(tmp_path / "data")
    recorder = Recorder(store, flush_interval=0.05)
    config = SerialSourceConfig(
        name=name, port=os.ttyname(slave), handshake_timeout="5s", command_timeout="500ms", command_retries=2
    )
    source = SerialSource(config)
    sink = recorder.sink(source.name, source.kind, source.overflow)
    tasks = [
        asyncio.create_task(recorder.run(), name="recorder"),
        asyncio.create_task(source.run(sink), name=f"source:{name}"),
    ]
    try:
        yield Link(source, sink, store, recorder, master, slave)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await recorder.close()
        store.close()
        os.close(master)
        os.close(slave)
