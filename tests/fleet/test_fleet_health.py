"""The confirmation window's verdict on sources that crash, stay quiet, never connect, or deliver."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from agent.backoff import Backoff
from agent.fleet.health import confirm
from agent.hub import HealthCheck
from agent.pipeline.sink import OverflowPolicy, Sink
from agent.readings import Reading
from agent.sources.base import Source
from agent.sources.supervisor import SourceRunner


class Crashing:
    kind = "test"
    overflow: OverflowPolicy = "block"
    name = "flaky"

    async def run(self, sink: Sink) -> None:
        await asyncio.sleep(0.05)
        raise RuntimeError("boom")


class Quiet:
    kind = "test"
    overflow: OverflowPolicy = "block"
    name = "quiet"

    async def run(self, sink: Sink) -> None:
        await asyncio.Event().wait()


class NeverConnects(Quiet):
    name = "board"

    def __init__(self) -> None:
        self.connected = asyncio.Event()


class Delivering(NeverConnects):
    name = "busy"

    async def run(self, sink: Sink) -> None:
        while True:
            await sink.put(Reading("busy.x", 0.0, 1.0))
            await asyncio.sleep(0.01)


class Hub:
    def __init__(self, runners: list[SourceRunner]) -> None:
        self.runners = {r.name: r for r in runners}
        self.health_checks: dict[str, HealthCheck] = {}

    def source_runner(self, name: str) -> SourceRunner | None:
        return self.runners.get(name)


@contextlib.asynccontextmanager
async def supervised(*sources: Source) -> AsyncIterator[Hub]:
    runners = [
        SourceRunner(
            src,
            Sink(src.name, "test", maxsize=10_000, policy="block", wake=lambda: None),
            Backoff(0.01, 0.02),
        )
        for src in sources
    ]
    tasks = [asyncio.create_task(r.run()) for r in runners]
    try:
        yield Hub(runners)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@pytest.mark.parametrize(
    ("source", "verdict"),
    [
        (Crashing(), "source flaky crashed: RuntimeError: boom"),
        (NeverConnects(), "source board produced no data and is not connected"),
        (Quiet(), None),
        (Delivering(), None),
    ],
    ids=["crash", "not-connected", "quiet-but-running", "delivering"],
)
async def test_verdict(source: Source, verdict: str | None) -> None:
    async with supervised(source) as hub:
        assert await confirm(hub, [source.name], 0.3) == verdict


async def test_registered_checks_run_after_the_sources_pass_and_a_raising_check_fails() -> None:
    async with supervised(Quiet()) as hub:

        async def models() -> str | None:
            return None

        async def upstream() -> str | None:
            raise OSError("connection refused")

        hub.health_checks["models"] = models
        assert await confirm(hub, ["quiet"], 0.05) is None
        hub.health_checks["upstream"] = upstream
        assert await confirm(hub, ["quiet"], 0.05) == "upstream: OSError: connection refused"
