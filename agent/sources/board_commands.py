"""Board commands with the firmware bridge's ACK semantics, shared by the serial and BLE UART links.

A COMMAND goes out with a fresh sequence number; the host waits ``timeout`` for the ACK that names
it and otherwise sends the same frame again (same ``seq``: the board answers a repeat without
running the command twice), at most ``retries`` times. ACK status 0 returns the ACK; a non-zero
status, no ACK after every attempt, or the link going away raises ``BoardCommandError``. The
transport only puts frames on its link and hands incoming ACKs to ``acked``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from agent.errors import BoardCommandError
from firmware_bridge import Ack

COMMAND_STATS = ("commands_sent", "command_retries", "command_timeouts", "command_failures")
"""Per-board counters: commands asked for, resends, commands given up unanswered, failures of any kind."""

Sleep = Callable[[float], Awaitable[None]]


class PendingCommands:
    """The commands of one board link that wait for their ACK, by sequence number."""

    def __init__(
        self,
        board: str,
        stats: dict[str, int],
        *,
        timeout: float,
        retries: int,
        prefix: str = "",
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.board = board
        self.timeout = timeout
        self.retries = retries
        self._stats = stats
        self._keys = {key: prefix + key for key in COMMAND_STATS}
        for key in self._keys.values():
            stats.setdefault(key, 0)
        self._sleep = sleep
        self._waiting: dict[int, asyncio.Future[Ack]] = {}

    def acked(self, ack: Ack) -> bool:
        """Hand ``ack`` to the command waiting for it; False if none waits (a late or repeated ACK)."""
        future = self._waiting.get(ack.seq)
        if future is None or future.done():
            return False
        future.set_result(ack)
        return True

    def link_lost(self) -> None:
        """Fail every waiting command: the link they went out on is gone."""
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(BoardCommandError(f"board {self.board} was disconnected"))
                future.exception()  # retrieved: the waiter may already have given up

    async def send(self, name: str, seq: int, transmit: Callable[[], bool]) -> Ack:
        """Run command ``name`` sent as frame ``seq`` by ``transmit`` (False: no link); return its ACK.

        Raises ``BoardCommandError`` when the board refuses it, never answers, or the link goes away.
        """
        future: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
        self._waiting[seq] = future
        self._count("commands_sent")
        try:
            ack = await self._attempts(future, transmit)
        except BoardCommandError:
            self._count("command_failures")
            raise
        finally:
            del self._waiting[seq]
        if ack is None:
            self._count("command_timeouts")
            self._count("command_failures")
            raise BoardCommandError(
                f"board {self.board} did not acknowledge {name!r} after {self.retries + 1} tries",
                hint="is the board running hearth firmware and still connected?",
            )
        if ack.status:
            self._count("command_failures")
            raise BoardCommandError(
                f"board {self.board} refused {name!r}: {ack.detail} (status {ack.status})"
            )
        return ack

    async def _attempts(self, future: asyncio.Future[Ack], transmit: Callable[[], bool]) -> Ack | None:
        """Send and wait up to ``retries + 1`` times; the ACK, or None if none came."""
        for attempt in range(self.retries + 1):
            if attempt:
                self._count("command_retries")
            if not transmit():
                raise BoardCommandError(f"board {self.board} was disconnected")
            if await self._answered(future):
                return future.result()
        return None

    async def _answered(self, future: asyncio.Future[Ack]) -> bool:
        """Wait ``timeout`` for ``future``; True once it is settled (the future itself is never cancelled)."""
        timer = asyncio.ensure_future(self._sleep(self.timeout))
        waiters: set[asyncio.Future[Any]] = {future, timer}
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
        return future.done()

    def _count(self, key: str) -> None:
        self._stats[self._keys[key]] += 1
