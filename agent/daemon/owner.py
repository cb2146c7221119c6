"""The running hub as owner actions see it: its own writers for both files, its sources, its live link."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from agent.config import Config
from agent.store.readings import ReadingsStore

if TYPE_CHECKING:
    from agent.daemon.agent import Agent

P = ParamSpec("P")
T = TypeVar("T")


class RunningHub:
    """``OwnerHub`` over a running ``Agent``: every change goes through the writer that owns its file."""

    def __init__(self, agent: Agent) -> None:
        self._agent = agent

    @property
    def config(self) -> Config:
        """The config the agent runs with now."""
        return self._agent.config

    async def ledger(
        self, fn: Callable[Concatenate[sqlite3.Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``fn`` on the agent's ledger thread."""
        return await self._agent.ledger_worker.run(fn, *args, **kwargs)

    async def readings(
        self, fn: Callable[Concatenate[ReadingsStore, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``fn`` on the recorder's writer thread, between batches."""
        agent = self._agent
        return await agent.recorder.in_writer(functools.partial(fn, agent.store, *args, **kwargs))

    async def settle(self) -> None:
        """Commit what the sources handed over so far."""
        await self._agent.recorder.settle()

    async def adoptions_changed(self) -> None:
        """Every running BLE source re-reads the adoption table now (not at its next refresh)."""
        for runner in list(self._agent.runners):
            refresh = getattr(runner.source, "refresh_adoptions", None)
            if refresh is not None:
                await refresh()

    def live_sync(self) -> dict[str, Any] | None:
        """The publisher's link state, when the hub has an upstream."""
        probe = self._agent.live_sync
        return None if probe is None else probe()

    def live_store(self) -> dict[str, Any] | None:
        """The recorder's live state (commits, backlog, drops, a disk that refuses writes)."""
        return self._agent.live_store()
