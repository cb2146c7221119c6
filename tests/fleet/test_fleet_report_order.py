"""A restarted hub reports what it confirmed, however its first report and the confirmation interleave."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fleet_support import PLUG, model, push_to_hub, restarting, watching, write_hub

from agent.fleet import history
from tests.testbed.wait import eventually


class ReplyGate:
    """A TCP relay in front of the broker: on connection number ``hold_on`` it stops passing the broker's
    bytes to the client once the client has sent ``marker``, until ``release`` is set."""

    def __init__(self, broker: int, marker: bytes, hold_on: int) -> None:
        self.broker = broker
        self.marker = marker
        self.hold_on = hold_on
        self.port = 0
        self.connections = 0
        self.held = asyncio.Event()  # the client sent the marker on the chosen connection
        self.held_chunk = b""
        self.release = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    async def _serve(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        broker_in, broker_out = await asyncio.open_connection("127.0.0.1", self.broker)
        holding = asyncio.Event()

        async def upward() -> None:
            while chunk := await client_in.read(65536):
                if number == self.hold_on and self.marker in chunk and not holding.is_set():
                    self.held_chunk = chunk
                    holding.set()
                    self.held.set()
                broker_out.write(chunk)
                await broker_out.drain()
            broker_out.close()

        async def downward() -> None:
            while chunk := await broker_in.read(65536):
                if holding.is_set():
                    await self.release.wait()
                client_out.write(chunk)
                await client_out.drain()
            client_out.close()

        with contextlib.suppress(OSError):
            async with asyncio.TaskGroup() as group:
                group.create_task(upward())
                group.create_task(downward())

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[ReplyGate]:
        def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.create_task(self._serve(reader, writer))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            self.release.set()
            server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await server.wait_closed()


async def test_a_confirmation_that_lands_while_applying_is_being_reported_is_reported_too(
    tmp_path: Path, broker: int, fleet_key: Ed25519PrivateKey
) -> None:
    # The restarted hub's first report ("applying") waits for its PUBACK until the restart is confirmed.
    gate = ReplyGate(broker, marker=b"hearth/v1/hub-g/fleet", hold_on=2)
    async with gate.running():
        path = write_hub(tmp_path, "hub-g", key=fleet_key, port=gate.port, confirm_window="1s")
        async with watching(broker) as watcher, restarting(path) as hub:
            await watcher.wait_for(["hub-g"], "provisioned", None)
            await push_to_hub(broker, fleet_key, "hub-g", PLUG + model(), version=1)
            await eventually(gate.held.is_set, "the restarted hub's first report", within=30)
            assert b'"applying"' in gate.held_chunk
            await eventually(
                lambda: history.running_version(hub.agent.ledger.conn) == 1, "the restart to be confirmed"
            )
            gate.release.set()
            await watcher.wait_for(["hub-g"], "applied", 1)
            assert hub.runner.starts == 2
