"""The local broker feature: the hub's MQTT client on the home's broker, and the Home Assistant bridge."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent.local.broker import LocalBroker
from agent.local.homeassistant import HomeAssistantBridge, adopted_streams
from agent.rules.engine import Intent
from agent.rules.service import guard_boards
from agent.sources.commander import SourceBoards

if TYPE_CHECKING:
    from agent.hub import Hub


class LocalService:
    """The broker and the bridge of one hub; the rules feature publishes through ``publisher``."""

    def __init__(self, broker: LocalBroker, bridge: HomeAssistantBridge) -> None:
        self.broker = broker
        self.bridge = bridge

    @property
    def publisher(self) -> LocalBroker:
        """The local broker (rules' publish actions go out through it)."""
        return self.broker

    def on_action_done(self, intent: Intent) -> None:
        """Tell Home Assistant what a rule did."""
        self.bridge.on_action_done(intent)


def setup(hub: Hub) -> LocalService | None:
    """Connect to ``[local_mqtt]`` and announce the hub's streams and switches to Home Assistant."""
    config = hub.config
    if config.local_mqtt is None:
        return None
    guard_boards(hub)
    broker = LocalBroker(config.local_mqtt, config.hub.id)

    async def load_streams() -> list[Any]:
        return await hub.readings(lambda store: adopted_streams(store.conn))

    bridge = HomeAssistantBridge(broker, config.local_mqtt, load_streams, commander=SourceBoards(hub.sources))
    hub.recorder.listeners.append(bridge.on_readings)
    hub.services["local-mqtt"] = broker.run
    hub.services["home-assistant"] = bridge.run
    return LocalService(broker, bridge)
