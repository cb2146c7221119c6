"""Monitoring: the durable local store (readings file and ledger file)."""

from agent.store.ledger import open_ledger
from agent.store.readings import ReadingsStore, open_readings

__all__ = ["ReadingsStore", "open_ledger", "open_readings"]
