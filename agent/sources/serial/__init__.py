"""Serial boards: the agent's source for boards speaking the firmware bridge protocol or text lines."""

from agent.sources.serial.source import SerialSource

__all__ = ["SerialSource"]
