"""Where the layers after the store (inference, rules, sync, ...) attach to a running Agent.

Each layer contributes one ``attach_*`` call: it reads ``agent.config``, adds listeners to
``agent.recorder.listeners`` (in-memory feed of every reading) and long-running coroutines to
``agent.services``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.daemon.agent import Agent


def attach_features(agent: Agent) -> None:
    """Attach every configured layer to ``agent``."""
    attach_fleet(agent)


def attach_fleet(agent: Agent) -> None:
    """Signed config push, when ``[fleet]`` is configured and the config file's path is known."""
    if agent.config.fleet is None or agent.config_path is None:
        return
    from agent.fleet.service import FleetService

    agent.services["fleet"] = FleetService(agent).run
