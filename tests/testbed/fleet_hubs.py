"""Hubs that run only the real fleet service (verify, apply, confirm, report), no sources: many per process.

For fleet tests and benchmarks at scale. Each has its own config file and ledger; ``failing`` ones fail
their health check on any config whose ``hub.name`` is ``FAILING_NAME``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.config import Config, load_config
from agent.fleet.document import public_key_text
from agent.fleet.service import FleetService
from agent.hub import HealthCheck, Reconfigured, Service, SourceChangeCheck
from agent.pipeline.recorder import Recorder
from agent.sources.base import Source
from agent.sources.supervisor import SourceRunner
from agent.store.ledger import open_ledger
from agent.store.readings import ReadingsStore
from agent.store.worker import LedgerWorker

FAILING_NAME = "failing"


class BareHub:
    """A ``Hub`` with only what the fleet service uses: config and file, ledger, reconfigure, health checks.

    No readings file and no recorder: a thousand of these run in a few processes.
    """

    def __init__(self, path: Path, *, failing: bool = False) -> None:
        self.config_path: Path | None = path
        self.config: Config = load_config(path)
        self.data_dir = Path(self.config.hub.data_dir)
        self.ledger = LedgerWorker(open_ledger(self.data_dir))
        self.failing = failing
        self.health_checks: dict[str, HealthCheck] = {"simulated": self._check}
        self.services: dict[str, Service] = {}
        self.source_started: list[Callable[[Source], None]] = []
        self.source_change_checks: list[SourceChangeCheck] = []
        self.on_close: list[Callable[[], None]] = []
        self.features: dict[str, object] = {}

    @property
    def store(self) -> ReadingsStore:
        raise AssertionError("a bare hub has no readings file")

    @property
    def recorder(self) -> Recorder:
        raise AssertionError("a bare hub has no recorder")

    def sources(self) -> list[Source]:
        return []

    def source_health(self) -> list[dict[str, Any]]:
        return []

    def live_store(self) -> dict[str, Any]:
        return {}

    async def readings(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a bare hub has no readings file")

    async def perform(self, action: str, args: dict[str, Any]) -> Any:
        raise AssertionError(f"the fleet service performed the owner action {action}")

    async def _check(self) -> str | None:
        if self.failing and self.config.hub.name == FAILING_NAME:
            return "simulated failure"
        return None

    async def reconfigure(self, new: Config) -> Reconfigured:
        """Take ``new`` at once: there are no sources to start or stop."""
        self.config = new
        return Reconfigured((), (), ())

    def source_runner(self, name: str) -> SourceRunner | None:
        """None: a bare hub runs no sources."""
        return None

    def restart(self) -> None:
        """Never needed: no config a bare hub takes asks for a restart."""
        raise RuntimeError("a bare hub never restarts")


def write_bare_hub(
    root: Path,
    hub: str,
    *,
    key: Ed25519PrivateKey,
    port: int,
    groups: Sequence[str],
    password_file: Path | None = None,
) -> Path:
    """Write a hub's config: fleet broker on loopback ``port``, user ``hub`` with ``password_file``."""
    folder = root / hub
    folder.mkdir(parents=True)
    path = folder / "hearth.toml"
    login = f', username = "{hub}", password_file = "{password_file}"' if password_file else ""
    group_list = ", ".join(f'"{g}"' for g in groups)
    path.write_text(
        f'[hub]\nid = "{hub}"\ndata_dir = "{folder / "data"}"\ngroups = [{group_list}]\n\n'
        f'[fleet]\npublic_key = "{public_key_text(key.public_key())}"\nconfirm_window = "200ms"\n'
        f'broker = {{ host = "127.0.0.1", port = {port}, tls = false{login} }}\n'
    )
    return path


@contextlib.asynccontextmanager
async def serving(hubs: Sequence[BareHub]) -> AsyncIterator[None]:
    """Run every hub's fleet service for the block."""
    tasks = [asyncio.create_task(FleetService(hub).run(), name=f"fleet:{hub.config.hub.id}") for hub in hubs]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for hub in hubs:
            hub.ledger.close()
