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
    from agent.inference.pipeline import attach_inference
    from agent.rules.service import attach_rules

    attach_inference(agent)
    attach_rules(agent)
