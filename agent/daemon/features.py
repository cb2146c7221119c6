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
    from agent.sync.service import attach_sync

    attach_inference(agent)
    attach_ble(agent)
    attach_rules(agent)
    attach_sync(agent)
    if agent.config.web is not None and agent.config.web.enabled:
        # Imported only when enabled: aiohttp and jinja2 cost a hub without a dashboard ~15 MB.
        from agent.web.server import attach_web

        attach_web(agent)


def attach_ble(agent: Agent) -> None:
    """Let BLE sources read adoptions from the readings file and erase what the owner forgets."""
    if not any(runner.source.kind == "ble" for runner in agent.runners):
        return  # keep bleak and the parser libraries out of a hub without BLE
    from agent.sources.ble import BleSource

    async def forget(name: str) -> int:
        return await agent.recorder.in_writer(agent.store.forget_device, name)

    for runner in agent.runners:
        if isinstance(runner.source, BleSource):
            runner.source.bind_store(agent.store.path, on_forget=forget)
