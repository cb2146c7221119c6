"""The daemon: one TaskGroup owns the recorder, every source, and the housekeeping tasks.

Stopping (``stop()``, wired to SIGTERM/SIGINT) cancels the sources first, then flushes the recorder
within ``stop_timeout``, so every reading a source handed over is committed before exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from agent.config import Config, seconds
from agent.daemon.features import attach_features
from agent.daemon.supervisor import SourceRunner
from agent.daemon.systemd import SystemdNotifier
from agent.pipeline.recorder import Recorder
from agent.sources.base import Source
from agent.sources.factory import build_source
from agent.store.ledger import open_ledger
from agent.store.readings import open_readings

log = logging.getLogger(__name__)

Service = Callable[[], Coroutine[Any, Any, None]]


class Agent:
    """A running hub: build with a config, ``await run()``, call ``stop()`` to finish gracefully."""

    def __init__(
        self,
        config: Config,
        *,
        sources: Sequence[Source] | None = None,
        notifier: SystemdNotifier | None = None,
        health_every: float = 5.0,
    ) -> None:
        self.config = config
        self.data_dir = Path(config.hub.data_dir)
        self.notifier = notifier or SystemdNotifier()
        self.stop_timeout = seconds(config.daemon.stop_timeout)
        self.stall_limit = seconds(config.daemon.stall_limit)
        self.health_every = health_every
        built = list(sources) if sources is not None else [build_source(s) for s in config.sources]
        self.store = open_readings(self.data_dir)
        self.ledger = open_ledger(self.data_dir)
        self.recorder = Recorder(
            self.store,
            flush_interval=seconds(config.store.flush_interval),
            batch_size=config.store.batch_size,
            queue_size=config.store.queue_size,
        )
        self.runners = [
            SourceRunner(src, self.recorder.sink(src.name, src.kind, src.overflow)) for src in built
        ]
        # Later layers (inference, rules, sync) register long-running services here.
        self.services: dict[str, Service] = {}
        self.started = asyncio.Event()
        self._stop = asyncio.Event()
        attach_features(self)

    def stop(self) -> None:
        """Ask the agent to stop gracefully (safe from a signal handler, safe to call twice)."""
        self._stop.set()

    async def run(self) -> None:
        """Run until ``stop()``; raises if the recorder itself fails."""
        try:
            async with asyncio.TaskGroup() as group:
                recorder = group.create_task(self.recorder.run(), name="recorder")
                sources = [group.create_task(r.run(), name=f"source:{r.name}") for r in self.runners]
                chores = [
                    group.create_task(self._health_loop(), name="health"),
                    group.create_task(self._retention_loop(), name="retention"),
                    group.create_task(self._watchdog_loop(), name="watchdog"),
                ]
                chores += [group.create_task(svc(), name=n) for n, svc in self.services.items()]
                self.notifier.ready()
                self.started.set()
                log.info("hub %s recording from %d sources", self.config.hub.id, len(self.runners))
                await self._stop.wait()
                self.notifier.stopping()
                log.info("stopping: flushing the recorder")
                await _cancel_all(sources)
                await _cancel_all([recorder])
                await self.recorder.close(self.stop_timeout)
                await _cancel_all(chores)
                # The writer thread is gone: record final counters from here.
                self.store.write_health([runner.health() for runner in self.runners])
        finally:
            await self.recorder.close(self.stop_timeout)
            self.store.close()
            self.ledger.close()
            self.notifier.close()

    # -- housekeeping --------------------------------------------------------------------------

    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(self.health_every)
            for runner in self.runners:
                runner.check_recovery()
            self.notifier.status(
                f"{self.recorder.committed} readings committed, {self.recorder.queued} queued"
            )
            try:
                await self._write_health()
            except sqlite3.OperationalError as exc:  # locked or failing disk: the watchdog decides
                log.warning("cannot write source health: %s", exc)

    async def _write_health(self) -> None:
        rows = [runner.health() for runner in self.runners]
        await self.recorder.in_writer(self.store.write_health, rows)

    async def _retention_loop(self) -> None:
        retention = self.config.store.retention
        while True:
            try:
                result = await self.recorder.in_writer(
                    lambda: self.store.apply_retention(
                        now=time.time(),
                        raw_s=seconds(retention.raw),
                        minute_s=seconds(retention.minute_rollups),
                        hour_s=seconds(retention.hour_rollups),
                    )
                )
            except sqlite3.OperationalError as exc:
                log.warning("retention pass failed, trying again later: %s", exc)
            else:
                if result.raw_rolled_up:
                    log.info("retention rolled up and deleted %d raw readings", result.raw_rolled_up)
            await asyncio.sleep(seconds(retention.check_every))

    def making_progress(self) -> bool:
        """True while the pipeline moves: queued readings get committed and sources deliver.

        Idle is progress (nothing queued); a backlog with no commit for ``stall_limit`` is not, and
        neither is every source silent for ``stall_limit`` after having delivered.
        """
        recorder = self.recorder
        if recorder.queued and time.monotonic() - recorder.last_commit > self.stall_limit:
            return False
        live = [r for r in self.runners if r.state != "finished" and r.sink.last_put]
        return not live or any(r.silent_for() < self.stall_limit for r in live)

    async def _watchdog_loop(self) -> None:
        interval = self.notifier.watchdog_interval
        if interval is None:
            return
        stalled = False
        while True:
            if self.making_progress():
                self.notifier.watchdog()
                if stalled:
                    log.info("pipeline is moving again")
                stalled = False
            elif not stalled:
                log.error("pipeline stalled: withholding the systemd watchdog ping")
                stalled = True
            await asyncio.sleep(interval)


async def _cancel_all(tasks: Sequence[asyncio.Task[None]]) -> None:
    """Cancel ``tasks`` and wait for them; their own errors were already reported by the group."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
