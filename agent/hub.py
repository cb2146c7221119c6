"""The hub as a feature sees it: the ``Hub`` protocol, and the types a feature plugs in with.

A feature (inference, rules, the local broker, sync, fleet push, the dashboard...) is set up by
``setup(hub)`` in its own module (see ``agent.config.features`` for the registry) and gets only this
protocol, never the daemon's ``Agent``: so it imports nothing above it, and a test can run it against a
small fake hub. A feature plugs in by adding to the hub's lists and tables:

- ``services``: long-running coroutines, started after every feature is set up, cancelled at stop;
- ``health_checks``: what a changed config must pass before it is kept (models load, upstream connects);
- ``source_started``: called with each source a reconfigure starts;
- ``source_change_checks``: called before a reconfigure swaps sources; raise ``RestartNeededError`` to refuse;
- ``on_close``: called once when the hub closes its files (or when setting up a later feature failed);
- ``recorder.listeners``: the in-memory feed of every committed reading.

A feature object that keeps what it learned of streams in memory satisfies ``Forgets``, so the owner's
``forget`` reaches it (``agent.control.owner.RunningHub.forgetting``).

What ``setup`` returns is kept in ``features`` under the feature's name.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Coroutine, Sequence
from pathlib import Path
from typing import Any, Concatenate, NamedTuple, ParamSpec, Protocol, TypeVar, runtime_checkable

from agent.config import Config
from agent.pipeline.recorder import Recorder
from agent.sources.base import Source
from agent.sources.supervisor import SourceRunner
from agent.store.readings import ReadingsStore
from agent.store.worker import LedgerWorker

P = ParamSpec("P")
T = TypeVar("T")

Service = Callable[[], Coroutine[Any, Any, None]]
"""A long-running coroutine of a feature, one task of the hub's task group."""

HealthCheck = Callable[[], Awaitable[str | None]]
"""A check a feature registers for config changes: None when healthy, else the reason it is not."""

SourceChangeCheck = Callable[[Sequence[Source], Sequence[Source]], None]
"""Called with the sources a reconfigure would stop and those it would start; may refuse by raising."""


class Reconfigured(NamedTuple):
    """Which sources a ``reconfigure`` started, stopped (removed or changed) and left running."""

    started: tuple[str, ...]
    stopped: tuple[str, ...]
    kept: tuple[str, ...]


class Hub(Protocol):
    """A running hub, as its features see it."""

    services: dict[str, Service]
    health_checks: dict[str, HealthCheck]
    source_started: list[Callable[[Source], None]]
    source_change_checks: list[SourceChangeCheck]
    on_close: list[Callable[[], None]]
    features: dict[str, object]

    @property
    def config(self) -> Config:
        """The config the hub runs with now (a reconfigure replaces it)."""

    @property
    def config_path(self) -> Path | None:
        """The config file the hub was started from, if any."""

    @property
    def data_dir(self) -> Path:
        """The folder of the readings and ledger files."""

    @property
    def store(self) -> ReadingsStore:
        """The readings file; its connection belongs to the recorder's writer (see ``readings``)."""

    @property
    def ledger(self) -> LedgerWorker:
        """The ledger file's one writer: every change to the ledger goes through it."""

    @property
    def recorder(self) -> Recorder:
        """The recorder: ``sink()`` for a feature's own strands, ``listeners`` for the live feed."""

    def sources(self) -> list[Source]:
        """The sources running now."""

    def source_runner(self, name: str) -> SourceRunner | None:
        """The runner of the running source called ``name``."""

    def source_health(self) -> list[dict[str, Any]]:
        """One health row per running source (state, restarts, accepted, dropped...)."""

    def live_store(self) -> dict[str, Any]:
        """The recorder as it is now: commits, backlog, drops by source, and why commits fail."""

    async def readings(
        self, fn: Callable[Concatenate[ReadingsStore, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``fn(store, ...)`` on the readings file's writer, between batches."""

    async def perform(self, action: str, args: dict[str, Any]) -> Any:
        """Carry out the owner action ``action`` (see ``agent.control.actions``) on this hub."""

    async def reconfigure(self, new: Config) -> Reconfigured:
        """Switch to ``new``, restarting only the sources that changed."""

    def restart(self) -> None:
        """Stop gracefully so that the hub starts again from its config file."""


@runtime_checkable
class Live(Protocol):
    """A feature object that reports its live state (the sync service's link, for ``hearth sync status``)."""

    def live(self) -> dict[str, Any]:
        """The state as it is now, JSON-ready."""


@runtime_checkable
class Forgets(Protocol):
    """A feature object that learns from streams in memory (the prediction's forecasters): the owner's
    ``forget`` tells it which streams are about to be erased, so it stops learning them."""

    def on_forget(self, streams: Collection[str]) -> None:
        """Drop what was learned of ``streams``; learn them again only once they are recorded anew."""
