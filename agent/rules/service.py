"""The rules feature: the rule dispatcher on the recorder's feed, acting on boards and the local broker.

The local broker and the Home Assistant bridge are a feature of their own (``agent.local.service``), set
up before this one: rules publish through it and tell it what they did (``LocalActions``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from agent.errors import RestartNeededError
from agent.rules.dispatch import LocalPublisher, RuleDispatcher
from agent.rules.engine import Intent, RuleEngine
from agent.sources.commander import SourceBoards

if TYPE_CHECKING:
    from agent.hub import Hub
    from agent.sources.base import Source


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
