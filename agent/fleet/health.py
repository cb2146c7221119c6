"""The confirmation window: does a freshly applied config work on this hub?

Each source the change started must not crash during the window, and by its end must have produced
data or, if it is a connection-based source (it has a ``connected`` event), be connected. Then every
check other layers registered in ``health_checks`` runs (models load, upstream connects...).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Protocol

from agent.hub import HealthCheck
from agent.sources.supervisor import SourceRunner


class Observed(Protocol):
    """What the health check looks at: the running sources and the registered checks (part of ``Hub``)."""

    health_checks: dict[str, HealthCheck]

    def source_runner(self, name: str) -> SourceRunner | None:
        """The runner of the running source called ``name``."""
        ...


async def confirm(hub: Observed, started: Sequence[str], window: float, *, poll: float = 0.05) -> str | None:
    """Watch ``started`` sources for ``window`` seconds; None if the config is healthy, else why not."""
    runners = {name: runner for name in started if (runner := hub.source_runner(name)) is not None}
    baseline = {name: (runner.sink.accepted, runner.restarts) for name, runner in runners.items()}
    deadline = time.monotonic() + window
    while True:
        for name, runner in runners.items():
            if runner.restarts > baseline[name][1] or runner.state == "backoff":
                return f"source {name} crashed: {runner.last_error}"
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        await asyncio.sleep(min(poll, remaining))
    for name, runner in runners.items():
        if runner.sink.accepted > baseline[name][0] or runner.state == "finished":
            continue
        connected = getattr(runner.source, "connected", None)
        if isinstance(connected, asyncio.Event) and not connected.is_set():
            return f"source {name} produced no data and is not connected"
    for name, check in hub.health_checks.items():
        try:
            reason = await check()
        except Exception as exc:  # noqa: BLE001 - a failing check is a failed health check
            reason = f"{type(exc).__name__}: {exc}"
        if reason:
            return f"{name}: {reason}"
    return None
