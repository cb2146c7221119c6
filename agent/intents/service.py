"""The intents feature of a running hub: one ``IntentService`` keeps every intent in step with its market.

Registered in ``agent.config.features`` as ``intents``: on when ``[market]`` or ``[upstream]`` is configured
(an intent may go ``--via upstream``). While it runs, the owner's intent actions wake it rather than
connect themselves, so each intent has one connection to the broker at a time.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from agent.config import Config
from agent.errors import ConfigError, IntentError

if TYPE_CHECKING:
    from agent.hub import Hub
    from agent.intents.market import IntentService


def setup(hub: Hub) -> IntentService | None:
    """Add the intent service to ``hub`` when it has a broker intents can go to."""
    from agent.intents.market import IntentService

    if hub.config.market is None and hub.config.upstream is None:
        return None
    service = IntentService(hub.config, hub.ledger.run)
    hub.services["intents"] = service.run
    hub.on_close.append(service.close)
    return service


def check_config(config: Config, source: str, base_dir: Path | None) -> None:
    """The registry's cross-check for ``[market]``: a broker intents can use (MQTT 5)."""
    from agent.intents.market import market_for

    if config.market is None:
        return  # [upstream] alone: only an intent sent --via upstream needs it, and says so itself
    try:
        market_for(config, "market")
    except IntentError as exc:
        raise ConfigError(exc.message, source=source, key_path="market", hint=exc.hint) from None
