"""Configuration: the schema, the loader, and duration helpers."""

from agent.config.durations import seconds
from agent.config.loader import config_from_mapping, load_config, parse_config
from agent.config.schema import CONFIG_VERSION, Config

__all__ = [
    "CONFIG_VERSION",
    "Config",
    "config_from_mapping",
    "load_config",
    "parse_config",
    "seconds",
]
