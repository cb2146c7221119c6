"""Where the layers after the store (inference, rules, sync, ...) attach to a running Agent.

Each layer contributes one ``attach_*`` call: it reads ``agent.config``, adds listeners to
``agent.recorder.listeners`` (in-memory feed of every reading) and long-running coroutines to
``agent.services``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.daemon.agent import Agent
    from agent.sources.base import Source


def attach_features(agent: Agent) -> None:
    """Attach every configured layer to ``agent``."""
    from agent.rules.service import attach_rules

    if agent.config.models:
        # Imported only with models: numpy and LiteRT cost a hub without them ~21 MB.
        from agent.inference.pipeline import attach_inference

        attach_inference(agent)
    attach_ble(agent)
    attach_rules(agent)
    if agent.config.upstream is not None:
        # Imported only with an upstream broker: aiomqtt and paho bring http.client and email along.
        from agent.sync.service import attach_sync

        attach_sync(agent)
    attach_fleet(agent)
    if agent.config.web is not None and agent.config.web.enabled:
        # Imported only when enabled: aiohttp and jinja2 cost a hub without a dashboard ~15 MB.
        from agent.web.server import attach_web

        attach_web(agent)


def attach_ble(agent: Agent) -> None:
    """Let BLE sources read adoptions from the readings file and erase what the owner forgets."""

    async def forget(name: str) -> int:
        return await agent.recorder.in_writer(agent.store.forget_device, name)

    def bind(source: Source) -> None:
        if source.kind != "ble":
            return  # keep bleak and the parser libraries out of a hub without BLE
        from agent.sources.ble import BleSource
        from agent.sources.ble.adoption import Adoption, AdoptionStore

        async def read() -> list[Adoption]:
            return await agent.recorder.in_writer(lambda: AdoptionStore(agent.store.conn).all())

        if isinstance(source, BleSource):
            source.bind_store(read, on_forget=forget)

    for runner in agent.runners:
        bind(runner.source)
    agent.source_started.append(bind)  # BLE sources a fleet push starts later


def attach_fleet(agent: Agent) -> None:
    """Signed config push, when ``[fleet]`` is configured and the config file's path is known."""
    if agent.config.fleet is None or agent.config_path is None:
        return
    from agent.fleet.service import FleetService

    agent.services["fleet"] = FleetService(agent, ledger=agent.ledger_worker).run
