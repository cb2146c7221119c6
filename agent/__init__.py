"""Hearth: an edge agent for home hubs that keeps the owner's data at home."""

__version__ = "0.1.0"
