"""A fake ``agent.hub.Hub``: real files and a real recorder in a folder, no daemon, no sources of its own."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.config import Config
from agent.hub import HealthCheck, Reconfigured, Service, SourceChangeCheck
from agent.pipeline.recorder import Recorder
from agent.sources.base import Source
from agent.sources.supervisor import SourceRunner
from agent.store.ledger import open_ledger
from agent.store.readings import open_readings
from agent.store.worker import LedgerWorker


@dataclass
class FakeHub:
    """Enough of a hub to set up one feature; ``running`` are the sources it reports."""

    config: Config
    running: list[Source] = field(default_factory=list)
    config_path: Path | None = None
    services: dict[str, Service] = field(default_factory=dict)
    health_checks: dict[str, HealthCheck] = field(default_factory=dict)
    source_started: list[Callable[[Source], None]] = field(default_factory=list)
    source_change_checks: list[SourceChangeCheck] = field(default_factory=list)
    on_close: list[Callable[[], None]] = field(default_factory=list)
    features: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.config.hub.data_dir)
        self.store = open_readings(self.data_dir)
        self.ledger = LedgerWorker(open_ledger(self.data_dir))
        self.recorder = Recorder(self.store, flush_interval=0.05)

    def sources(self) -> list[Source]:
        return list(self.running)

    def source_runner(self, name: str) -> SourceRunner | None:
        return None

    def source_health(self) -> list[dict[str, Any]]:
        return []

    def live_store(self) -> dict[str, Any]:
        return {"committed": self.recorder.committed}

    async def readings(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await self.recorder.in_writer(functools.partial(fn, self.store, *args, **kwargs))

    async def perform(self, action: str, args: dict[str, Any]) -> Any:
        raise AssertionError(f"a feature performed the owner action {action}")

    async def reconfigure(self, new: Config) -> Reconfigured:
        raise AssertionError("a feature reconfigured the hub")

    def restart(self) -> None:
        raise AssertionError("a feature restarted the hub")

    def close(self) -> None:
        """As the daemon closes: the ledger's writer, the features' close hooks, the readings file."""
        self.ledger.close()
        while self.on_close:
            self.on_close.pop()()
        self.store.close()
