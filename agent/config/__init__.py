"""Configuration: the schema, the loader, duration helpers, and the owner's clock."""

from agent.config.clock import HubClock
from agent.config.durations import seconds
from agent.config.loader import config_from_mapping, load_config, parse_config
from agent.config.schema import CONFIG_VERSION, Config

__all__ = [
    "CONFIG_VERSION",
    "Config",
    "HubClock",
    "config_from_mapping",
    "load_config",
    "parse_config",
    "seconds",
]
