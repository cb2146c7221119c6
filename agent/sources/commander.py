"""Commands to boards by name: the seam rules and switches send through, and the sources behind it.

A board is a source that takes commands (a framed serial board, ``BoardPort``) or one of the boards a
source carries (the BLE source's Nordic UART devices, ``BoardHost``). ``SourceBoards`` finds the board
among the running sources at each command; ``command_with_retry`` resends until the board ACKs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Protocol, runtime_checkable

from agent.aio import cancel_requested
from agent.backoff import Backoff
from agent.config.schema import Scalar
from agent.errors import BoardCommandError


class BoardCommander(Protocol):
    """Sends a COMMAND to a named board and returns once the board ACKed it."""

    async def send_command(self, board: str, command: str, arg: Scalar | None = None) -> None:
        """Raise on a NACK or when no ACK came in time."""


@runtime_checkable
class BoardPort(Protocol):
    """A source that is a board and takes commands (the firmware bridge's serial source)."""

    name: str

    async def send_command(self, name: str, arg: Scalar | None = None) -> object:
        """Send one COMMAND and return its ACK; raise on NACK or when no ACK came in time."""


@runtime_checkable
class BoardHost(Protocol):
    """A source that carries several boards (the BLE source's Nordic UART devices)."""

    def board_names(self) -> list[str]:
        """The boards this source carries."""

    async def send_board_command(self, board: str, name: str, arg: Scalar | None = None) -> object:
        """Send one COMMAND to ``board`` and return its ACK; raise as ``BoardPort.send_command`` does."""


class SourceBoards:
    """A ``BoardCommander`` that routes each command to the board's source, serial or BLE alike.

    Both wait for the board's ACK and resend with the same sequence number
    (``agent.sources.board_commands``), so a rule gets the same errors from either. Given a function,
    the sources are looked up at each command: a source replaced by a reload is found, not its ghost.
    """

    def __init__(self, sources: Iterable[object] | Callable[[], Iterable[object]]) -> None:
        if callable(sources):
            self._sources = sources
        else:
            fixed = list(sources)
            self._sources = lambda: fixed

    async def send_command(self, board: str, command: str, arg: Scalar | None = None) -> None:
        """Forward to the board's source; raise BoardCommandError if no such board is running."""
        sources = list(self._sources())
        for source in sources:
            if isinstance(source, BoardPort) and source.name == board:
                await source.send_command(command, arg)
                return
        for source in sources:
            if isinstance(source, BoardHost) and board in source.board_names():
                await source.send_board_command(board, command, arg)
                return
        raise BoardCommandError(f"no board named {board!r} is configured")


async def command_with_retry(
    commander: BoardCommander,
    board: str,
    command: str,
    arg: Scalar | None,
    *,
    attempts: int = 3,
    backoff: Backoff | None = None,
) -> None:
    """Send a command until the board ACKs it, at most ``attempts`` times; re-raise the last failure."""
    backoff = backoff or Backoff(base=0.2, cap=2.0)
    for attempt in range(1, attempts + 1):
        try:
            await commander.send_command(board, command, arg)
        except Exception as exc:
            if cancel_requested():  # a board link that turned the stop into its own error
                raise asyncio.CancelledError from exc
            if attempt == attempts:
                raise
            await asyncio.sleep(backoff.next_delay())
        else:
            return
