"""The seam between owner actions and whoever owns the data files (the running hub, or a command)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from agent.config import Config
from agent.store.readings import ReadingsStore

P = ParamSpec("P")
T = TypeVar("T")


class OwnerHub(Protocol):
    """What an owner action may use: the config, the two files through their writers, and two hooks."""

    @property
    def config(self) -> Config:
        """The config the hub runs with."""

    async def ledger(
        self, fn: Callable[Concatenate[sqlite3.Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``fn(ledger_connection, ...)`` on the ledger's writer."""

    async def readings(
        self, fn: Callable[Concatenate[ReadingsStore, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``fn(store, ...)`` on the readings file's writer."""

    async def settle(self) -> None:
        """Commit everything the sources already handed over (so an erase that follows catches it)."""

    async def adoptions_changed(self) -> None:
        """Make running BLE sources take the adoption table as it is now."""

    def live_sync(self) -> dict[str, Any] | None:
        """The upstream link as the running publisher sees it now (None without one)."""

    def live_store(self) -> dict[str, Any] | None:
        """The running recorder's state now (None when no hub runs)."""
