"""The rules feature: the rule dispatcher on the recorder's feed, acting on boards and the local broker.

The local broker and the Home Assistant bridge are a feature of their own (``agent.local.service``), set
up before this one: rules publish through it and tell it what they did (``LocalActions``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from agent.config.schema import Scalar
from agent.errors import BoardCommandError, RestartNeededError
from agent.rules.dispatch import LocalPublisher, RuleDispatcher
from agent.rules.engine import Intent, RuleEngine

if TYPE_CHECKING:
    from agent.hub import Hub
    from agent.sources.base import Source


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


@runtime_checkable
class LocalActions(Protocol):
    """What rules use of the local broker feature: where to publish, and whom to tell what was done."""

    @property
    def publisher(self) -> LocalPublisher:
        """The local broker."""

    def on_action_done(self, intent: Intent) -> None:
        """Called after each action a rule asked for was carried out."""


def refuse_board_changes(stopping: Sequence[Source], starting: Sequence[Source]) -> None:
    """A reconfigure check: rules and switches hold on to the running boards, so a change needs a restart."""
    boards = sorted({s.name for s in [*stopping, *starting] if hasattr(s, "send_command")})
    if boards:
        raise RestartNeededError(
            "rules hold on to the running boards; changing a board needs a restart",
            key_path=", ".join(f"sources.{name}" for name in boards),
        )


def guard_boards(hub: Hub) -> None:
    """Make ``hub`` refuse to swap boards while it runs (once, however many features ask)."""
    if refuse_board_changes not in hub.source_change_checks:
        hub.source_change_checks.append(refuse_board_changes)


def setup(hub: Hub) -> RuleDispatcher | None:
    """Run the enabled rules on the recorder's feed, acting on the boards and through the local broker."""
    config = hub.config
    guard_boards(hub)
    rules = [r for r in config.rules if r.enabled]
    if not rules:
        return None
    local = hub.features.get("local_mqtt")
    dispatcher = RuleDispatcher(
        RuleEngine(rules, config.hub.timezone),
        publisher=local.publisher if isinstance(local, LocalActions) else None,
        commander=SourceBoards(hub.sources),
    )
    if isinstance(local, LocalActions):
        dispatcher.on_dispatch.append(local.on_action_done)
    hub.recorder.listeners.append(dispatcher.on_readings)
    hub.services["rules"] = dispatcher.run
    return dispatcher
