"""Attach the real-time local service to a running agent: rules, the local broker, Home Assistant."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from agent.config.schema import Scalar
from agent.errors import BoardCommandError
from agent.rules.dispatch import BoardCommander, RuleDispatcher
from agent.rules.engine import RuleEngine

if TYPE_CHECKING:
    from agent.daemon.agent import Agent


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


def attach_rules(agent: Agent, commander: BoardCommander | None = None) -> None:
    """Add the rule dispatcher and, with ``[local_mqtt]``, the broker and Home Assistant bridge."""
    config = agent.config
    rules = [r for r in config.rules if r.enabled]
    if not rules and config.local_mqtt is None:
        return
    boards: BoardCommander = commander or SourceBoards(lambda: [runner.source for runner in agent.runners])
    broker = bridge = None
    if config.local_mqtt is not None:
        from agent.local.broker import LocalBroker
        from agent.local.homeassistant import HomeAssistantBridge, adopted_streams

        broker = LocalBroker(config.local_mqtt, config.hub.id)
        store = agent.store

        async def load_streams() -> list[Any]:
            return await agent.recorder.in_writer(adopted_streams, store.conn)

        bridge = HomeAssistantBridge(broker, config.local_mqtt, load_streams, commander=boards)
        agent.recorder.listeners.append(bridge.on_readings)
        agent.services["local-mqtt"] = broker.run
        agent.services["home-assistant"] = bridge.run
    if rules:
        dispatcher = RuleDispatcher(
            RuleEngine(rules, config.hub.timezone), publisher=broker, commander=boards
        )
        if bridge is not None:
            dispatcher.on_dispatch.append(bridge.on_action_done)
        agent.recorder.listeners.append(dispatcher.on_readings)
        agent.services["rules"] = dispatcher.run
