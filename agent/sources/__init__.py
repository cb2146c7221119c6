"""Collection: every source turns a device's output into ``Reading``s on its sink."""

from agent.sources.base import Source

__all__ = ["Source"]
