"""Attach the real-time local service to a running agent: rules, the local broker, Home Assistant."""

from __future__ import annotations

from collections.abc import Iterable
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


class SourceBoards:
    """A ``BoardCommander`` that routes each command to the source named like the board."""

    def __init__(self, sources: Iterable[object]) -> None:
        self.boards = {s.name: s for s in sources if isinstance(s, BoardPort)}

    async def send_command(self, board: str, command: str, arg: Scalar | None = None) -> None:
        """Forward to the board's source; raise BoardCommandError if no such board is running."""
        port = self.boards.get(board)
        if port is None:
            raise BoardCommandError(f"no board named {board!r} is configured")
        await port.send_command(command, arg)


def attach_rules(agent: Agent, commander: BoardCommander | None = None) -> None:
    """Add the rule dispatcher and, with ``[local_mqtt]``, the broker and Home Assistant bridge."""
    config = agent.config
    rules = [r for r in config.rules if r.enabled]
    if not rules and config.local_mqtt is None:
        return
    boards: BoardCommander = commander or SourceBoards(runner.source for runner in agent.runners)
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
