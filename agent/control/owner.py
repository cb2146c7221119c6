"""The owner-action view of a hub: the seam between owner actions and whoever owns the data files.

``OwnerHub`` is what an owner action may use; the running hub provides it through ``RunningHub`` (over
the ``agent.hub.Hub`` its features see), a command that found no hub through ``agent.control.client``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar, runtime_checkable

from agent.config import Config
from agent.hub import Forgets, Hub, Live
from agent.store.readings import ReadingsStore

P = ParamSpec("P")
T = TypeVar("T")


@runtime_checkable
class IntentExchanges(Protocol):
    """The running intent service as an owner action sees it (``agent.intents.market.IntentService``)."""

    problems: dict[str, str]

    async def exchanged(self) -> None:
        """Wake the service and wait for a round over every intent that began after the call."""


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

    def forgetting(self, streams: Collection[str]) -> None:
        """Tell running features that ``streams`` are about to be erased, so they stop learning them."""

    def live_sync(self) -> dict[str, Any] | None:
        """The upstream link as the running publisher sees it now (None without one)."""

    def live_store(self) -> dict[str, Any] | None:
        """The running recorder's state now (None when no hub runs)."""

    def intents(self) -> IntentExchanges | None:
        """The running intent service, which alone connects for an intent (None: the action connects)."""

    async def model_changed(self, name: str) -> None:
        """Make the running model ``name`` classify with the version the ledger says it runs."""


class RunningHub:
    """``OwnerHub`` over a running hub: every change goes through the writer that owns its file."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    @property
    def config(self) -> Config:
        """The config the hub runs with now."""
        return self._hub.config

    async def ledger(
        self, fn: Callable[Concatenate[sqlite3.Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``fn`` on the hub's ledger thread."""
        return await self._hub.ledger.run(fn, *args, **kwargs)

    async def readings(
        self, fn: Callable[Concatenate[ReadingsStore, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``fn`` on the recorder's writer thread, between batches."""
        return await self._hub.readings(fn, *args, **kwargs)

    async def settle(self) -> None:
        """Commit what the sources handed over so far."""
        await self._hub.recorder.settle()

    async def adoptions_changed(self) -> None:
        """Every running BLE source re-reads the adoption table now (not at its next refresh)."""
        for source in self._hub.sources():
            refresh = getattr(source, "refresh_adoptions", None)
            if refresh is not None:
                await refresh()

    def forgetting(self, streams: Collection[str]) -> None:
        """Every feature that learns in memory (``Forgets``) drops ``streams`` now."""
        for feature in self._hub.features.values():
            if isinstance(feature, Forgets):
                feature.on_forget(streams)

    def live_sync(self) -> dict[str, Any] | None:
        """The publisher's link state, when the hub has an upstream."""
        sync = self._hub.features.get("sync")
        return sync.live() if isinstance(sync, Live) else None

    def live_store(self) -> dict[str, Any] | None:
        """The recorder's live state (commits, backlog, drops, a disk that refuses writes)."""
        return self._hub.live_store()

    def intents(self) -> IntentExchanges | None:
        """The intent service, when the hub runs one."""
        service = self._hub.features.get("intents")
        return service if isinstance(service, IntentExchanges) else None

    async def model_changed(self, name: str) -> None:
        """Switch the model's runner to the version it runs now (after a label or a reset), live."""
        if self._hub.features.get("inference") is None:
            return
        from agent.inference.pipeline import inference_of
        from agent.learning.service import running_version

        inference = inference_of(self._hub)
        runner = inference.runners.get(name) if inference is not None else None
        if runner is not None:
            runner.use(*await self.ledger(running_version, name, runner.model))
