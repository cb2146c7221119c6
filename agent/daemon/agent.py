"""The daemon: one TaskGroup owns the recorder, every source, and the housekeeping tasks.

Stopping (``stop()``, wired to SIGTERM/SIGINT) cancels the sources first, then flushes the recorder,
so every reading a source handed over is committed before exit, then cancels the other tasks. The
whole stop takes ``stop_timeout`` at most (plus a second per step at worst): a task still running
at the deadline is logged as an error, with where it hangs, and abandoned.
``reconfigure()`` switches a running agent to a new config, restarting only the sources that changed;
a change it cannot apply live raises ``RestartNeededError``, and ``restart()`` then stops the agent so that
``agent.daemon.lifecycle`` starts a fresh one from the file.

The agent is the ``agent.hub.Hub`` its features see: it sets up each feature the config turns on, in
the order of the registry (``agent.config.features``), keeps what each ``setup`` returns in
``features``, and runs the ``on_close`` hooks once when it closes its files.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sqlite3
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from agent.aio import stoppable
from agent.config import Config, seconds
from agent.config.features import enabled_features, live_sections
from agent.config.schema import SourceConfig
from agent.config.sizes import size_bytes
from agent.daemon.systemd import SystemdNotifier
from agent.errors import AgentError, ConfigError, RestartNeededError
from agent.hub import HealthCheck, Reconfigured, Service, SourceChangeCheck
from agent.pipeline.recorder import Recorder
from agent.pipeline.sink import Sink
from agent.sources.base import Source
from agent.sources.factory import build_source
from agent.sources.supervisor import SourceRunner
from agent.store.ledger import open_ledger
from agent.store.lock import DataLock
from agent.store.readings import ReadingsStore, open_readings
from agent.store.sqlite import ensure_room
from agent.store.worker import LedgerWorker

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

# Each step of a stop gets at least this long, even when an earlier step used up the stop_timeout.
STEP_MIN = 1.0
# How long a starting agent waits for a command that has the data folder (see agent.store.lock).
LOCK_WAIT = 30.0


class Agent:
    """A running hub: build with a config, ``await run()``, call ``stop()`` to finish gracefully."""

    def __init__(
        self,
        config: Config,
        *,
        config_path: Path | None = None,
        sources: Sequence[Source] | None = None,
        notifier: SystemdNotifier | None = None,
        health_every: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        # Wall-clock time for what is stored (retention's cut-off, summary windows): a test runs days of it
        # in minutes. Staleness and stop deadlines stay on the monotonic clock.
        self.clock = clock
        self.config_path = config_path
        self.data_dir = Path(config.hub.data_dir)
        self.notifier = notifier or SystemdNotifier()
        self.stop_timeout = seconds(config.daemon.stop_timeout)
        self.stall_limit = seconds(config.daemon.stall_limit)
        self.health_every = health_every
        built = list(sources) if sources is not None else [build_source(s) for s in config.sources]
        # The config each running source was built from, so reconfigure() can tell what changed.
        self._source_configs: dict[str, SourceConfig] = (
            {s.name: s for s in config.sources} if sources is None else {}
        )
        # The agent is its data files' one owner while it runs: commands reach it on the control socket.
        self.lock = DataLock(self.data_dir)
        self.lock.acquire(LOCK_WAIT, who="a hearth command (or another hub)")
        try:
            # Files that still open on a full disk would only fail their first batch: wait for room instead.
            ensure_room(self.data_dir)
            self.store = open_readings(self.data_dir, sync_interval=seconds(config.store.sync_interval))
            # Owner actions and every feature change the ledger through this one thread.
            self.ledger = LedgerWorker(open_ledger(self.data_dir))
        except BaseException:
            self.lock.release()
            raise
        self.recorder = Recorder(
            self.store,
            flush_interval=seconds(config.store.flush_interval),
            batch_size=config.store.batch_size,
            queue_size=config.store.queue_size,
        )
        self.runners = [
            SourceRunner(src, self.recorder.sink(src.name, src.kind, src.overflow)) for src in built
        ]
        # Where features plug in (see agent.hub).
        self.services: dict[str, Service] = {}
        self.health_checks: dict[str, HealthCheck] = {}
        self.source_started: list[Callable[[Source], None]] = []
        self.source_change_checks: list[SourceChangeCheck] = []
        self.on_close: list[Callable[[], None]] = []
        self.features: dict[str, object] = {}
        self._group: asyncio.TaskGroup | None = None
        self._source_tasks: dict[str, asyncio.Task[None]] = {}
        self._reconfiguring = asyncio.Lock()
        self._retired: list[Sink] = []
        self._deadline: float | None = None
        self.started = asyncio.Event()
        self.restart_requested = False
        # Tasks the last stop gave up on: they may still run, so a restart must not share the process.
        self.abandoned: set[asyncio.Task[Any]] = set()
        self._stop = asyncio.Event()
        try:
            for row in enabled_features(config):
                feature = row.setup()(self)
                if feature is not None:
                    self.features[row.name] = feature
        except BaseException:
            self._close_files()
            raise

    def stop(self) -> None:
        """Ask the agent to stop gracefully (safe from a signal handler, safe to call twice)."""
        self._stop.set()

    def restart(self) -> None:
        """Stop gracefully so that the caller starts the agent again from its config file."""
        self.restart_requested = True
        self.stop()

    async def run(self) -> None:
        """Run until ``stop()``; raises if the recorder itself fails."""
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                recorder = group.create_task(self.recorder.run(), name="recorder")
                for runner in self.runners:
                    self._source_tasks[runner.name] = self._start(runner.run(), f"source:{runner.name}")
                chores = [
                    self._start(self._control_server(), "control"),
                    self._start(self._health_loop(), "health"),
                    self._start(self._retention_loop(), "retention"),
                    self._start(self._watchdog_loop(), "watchdog"),
                ]
                chores += [self._start(svc(), n) for n, svc in self.services.items()]
                self.notifier.ready()
                self.started.set()
                log.info("hub %s recording from %d sources", self.config.hub.id, len(self.runners))
                await self._stop.wait()
                if self.restart_requested:
                    self.notifier.reloading()
                else:
                    self.notifier.stopping()
                self._deadline = time.monotonic() + self.stop_timeout
                log.info("stopping: flushing the recorder")
                async with self._reconfiguring:
                    await _cancel_all(list(self._source_tasks.values()))
                await _cancel_all([recorder])
                # Services and housekeeping end before the writer thread goes: a task that made its
                # next call on it just as the stop began would otherwise fail the whole stop.
                await _cancel_all(chores)
                await self.recorder.close(self._time_left())
                # The writer thread is gone: record final counters from here.
                try:
                    self.store.write_health([runner.health() for runner in self.runners])
                except sqlite3.OperationalError as exc:  # a full or failing disk: the stop goes on
                    log.warning("cannot write the sources' final health: %s", exc)
        finally:
            self._group = None
            await self.recorder.close(self.stop_timeout)
            self._close_files()
            self.notifier.close()

    def _close_files(self) -> None:
        """Close both files (running the features' close hooks), then give up the data folder (safe twice)."""
        # The writer first: it finishes queued work, which may still use what a feature opened.
        self.ledger.close()
        while self.on_close:
            self.on_close.pop()()
        self.store.close()
        self.lock.release()

    async def _control_server(self) -> None:
        from agent.control.owner import RunningHub
        from agent.control.server import ControlServer
        from agent.control.wire import socket_path

        await ControlServer(RunningHub(self), socket_path(self.data_dir)).run()

    # -- reconfiguration -------------------------------------------------------------------------

    async def reconfigure(self, new: Config) -> Reconfigured:
        """Switch the running agent to ``new``: changed or removed sources stop, new ones start.

        Sources whose config is unchanged keep running (and recording) throughout. Raises
        ``ConfigError`` if ``new`` changes the hub's identity or a new source cannot be built, and
        ``RestartNeededError`` if it changes what the running layers read once; nothing has changed then.
        """
        old = self.config
        for key in ("id", "data_dir"):
            if getattr(new.hub, key) != getattr(old.hub, key):
                raise ConfigError("cannot change while the hub runs", key_path=f"hub.{key}")
        fixed = _restart_only(old, new)
        if fixed:
            raise RestartNeededError(
                "the running agent applies changes to sources, store, daemon, hub.name and hub.groups only",
                key_path=", ".join(fixed),
                hint="change these sections in the file and restart the agent",
            )
        group = self._group
        if group is None:
            raise AgentError("the agent is not running")
        async with self._reconfiguring:
            self._prune_retired()
            before = self._source_configs
            after = {s.name: s for s in new.sources}
            stopped = [name for name, cfg in before.items() if after.get(name) != cfg]
            started = [name for name, cfg in after.items() if before.get(name) != cfg]
            built = {name: build_source(after[name]) for name in started}
            stopping = [r.source for n in stopped if (r := self.source_runner(n)) is not None]
            for check in self.source_change_checks:
                check(stopping, list(built.values()))
            for name in stopped:
                await self._stop_source(name)
            for name in started:
                source = built[name]
                runner = SourceRunner(source, self.recorder.sink(source.name, source.kind, source.overflow))
                self.runners.append(runner)
                for hook in self.source_started:
                    hook(source)
                self._source_tasks[name] = self._start(runner.run(), f"source:{name}")
            self._source_configs = after
            self._apply_settings(new)
            kept = tuple(name for name in after if name not in started)
            log.info(
                "reconfigured: %d sources started, %d stopped, %d kept", len(started), len(stopped), len(kept)
            )
            return Reconfigured(tuple(started), tuple(stopped), kept)

    def _start(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """Start a task in the group; once cancelled it has until the stop's deadline to end."""
        assert self._group is not None
        task = stoppable(coro, name=name, grace=self._time_left, abandoned=self.abandoned)
        return self._group.create_task(task, name=name)

    def _time_left(self) -> float:
        """Seconds until the stop's deadline (``stop_timeout`` when not stopping), at least ``STEP_MIN``."""
        if self._deadline is None:
            return self.stop_timeout
        return max(self._deadline - time.monotonic(), STEP_MIN)

    def source_runner(self, name: str) -> SourceRunner | None:
        """The runner of the running source called ``name``."""
        return next((r for r in self.runners if r.name == name), None)

    def sources(self) -> list[Source]:
        """The sources running now."""
        return [runner.source for runner in self.runners]

    def source_health(self) -> list[dict[str, Any]]:
        """One health row per running source."""
        return [runner.health() for runner in self.runners]

    async def readings(
        self, fn: Callable[Concatenate[ReadingsStore, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``fn(store, ...)`` on the recorder's writer thread, between batches."""
        return await self.recorder.in_writer(functools.partial(fn, self.store, *args, **kwargs))

    async def perform(self, action: str, args: dict[str, Any]) -> Any:
        """Carry out the owner action ``action`` on this hub (as the control socket does)."""
        # Lazy: the owner actions bring the passport, receipts and fleet history along.
        from agent.control.actions import perform, refused
        from agent.control.owner import RunningHub

        try:
            return await perform(RunningHub(self), action, args)
        except sqlite3.OperationalError as exc:
            # A full or read-only disk: the dashboard says so, as the CLI does, rather than failing the page.
            disk = refused(exc, self.data_dir)
            if disk is None:
                raise
            raise disk from exc

    async def _stop_source(self, name: str) -> None:
        task = self._source_tasks.pop(name, None)
        if task is not None:
            await _cancel_all([task])
        runner = self.source_runner(name)
        if runner is None:
            return
        self.runners.remove(runner)
        # The recorder still takes what the source handed over; the sink goes once it is empty.
        self._retired.append(runner.sink)

    def _prune_retired(self) -> None:
        for sink in [s for s in self._retired if not len(s) and not s.declarations]:
            self._retired.remove(sink)
            self.recorder.sinks.remove(sink)

    def _apply_settings(self, new: Config) -> None:
        self.config = new
        self.stop_timeout = seconds(new.daemon.stop_timeout)
        self.stall_limit = seconds(new.daemon.stall_limit)
        self.recorder.flush_interval = seconds(new.store.flush_interval)
        self.store.sync_interval = seconds(new.store.sync_interval)
        self.recorder.batch_size = new.store.batch_size
        self.recorder.queue_size = new.store.queue_size

    # -- housekeeping --------------------------------------------------------------------------

    def live_store(self) -> dict[str, Any]:
        """The recorder as it is now: commits, backlog, drops by source, and why commits fail (if they do)."""
        recorder = self.recorder
        return {
            "committed": recorder.committed,
            "queued": recorder.queued,
            "dropped": {r.name: r.sink.dropped for r in self.runners},
            "error": recorder.store_error,
            "since": recorder.store_error_since,
        }

    def status_line(self) -> str:
        """One line for systemd's STATUS: what is committed, or why nothing is."""
        recorder = self.recorder
        dropped = sum(r.sink.dropped for r in self.runners)
        if recorder.store_error is not None:
            return (
                f"not committing readings: {recorder.store_error}; {recorder.queued} waiting,"
                f" {dropped} dropped; retrying"
            )
        return f"{recorder.committed} readings committed, {recorder.queued} queued, {dropped} dropped"

    async def _health_loop(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(self.health_every)
            for runner in self.runners:
                runner.check_recovery()
            self.notifier.status(self.status_line())
            try:
                await self._write_health()
            except sqlite3.OperationalError as exc:  # locked or failing disk: the watchdog decides
                if not failing:
                    log.warning("cannot write source health: %s", exc)
                failing = True
            else:
                failing = False

    async def _write_health(self) -> None:
        rows = [runner.health() for runner in self.runners]
        await self.recorder.in_writer(self.store.write_health, rows)

    async def _retention_loop(self) -> None:
        over_budget = False
        while True:
            # Read each pass: a reconfigure may change the store section.
            retention = self.config.store.retention
            max_size = self.config.store.max_size
            try:
                result = await self.recorder.in_writer(
                    functools.partial(
                        self.store.apply_retention,
                        now=self.clock(),
                        raw_s=seconds(retention.raw),
                        minute_s=seconds(retention.minute_rollups),
                        hour_s=seconds(retention.hour_rollups),
                        max_bytes=None if max_size is None else size_bytes(max_size),
                    )
                )
            except sqlite3.OperationalError as exc:
                log.warning("retention pass failed, trying again later: %s", exc)
            else:
                if result.raw_rolled_up:
                    log.info("retention rolled up and deleted %d raw readings", result.raw_rolled_up)
                if result.raw_over_budget:
                    # Once a warning, then (at the budget every pass) information.
                    log.log(
                        logging.INFO if over_budget else logging.WARNING,
                        "the readings file reached store.max_size (%s): %d raw readings rolled up early",
                        max_size,
                        result.raw_over_budget,
                    )
                    over_budget = True
            await asyncio.sleep(seconds(retention.check_every))

    def making_progress(self) -> bool:
        """True while the pipeline moves: queued readings get committed and sources deliver.

        Idle is progress (nothing queued); a backlog with no commit for ``stall_limit`` is not, and
        neither is every source silent for ``stall_limit`` after having delivered. A disk that refuses
        writes (full, read-only) is not a stall: a restart cannot cure it and would only loop, while the
        running hub says why in its status, keeps rules and the dashboard going and resumes by itself.
        """
        recorder = self.recorder
        if (
            recorder.queued
            and time.monotonic() - recorder.last_commit > self.stall_limit
            and not recorder.disk_refuses
        ):
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


# What reconfigure() applies to a running agent, with the sections of features whose registry row says so;
# any other change needs a restart.
_LIVE_SECTIONS = frozenset({"hub", "sources", "store", "daemon", "config_version"})
_LIVE_HUB_KEYS = frozenset({"id", "data_dir", "name", "groups"})


def _restart_only(old: Config, new: Config) -> list[str]:
    """Key paths that differ between ``old`` and ``new`` but cannot change while the agent runs."""
    live = _LIVE_SECTIONS | live_sections()
    changed = [
        field
        for field in old.__struct_fields__
        if field not in live and getattr(old, field) != getattr(new, field)
    ]
    changed += [
        f"hub.{key}"
        for key in old.hub.__struct_fields__
        if key not in _LIVE_HUB_KEYS and getattr(old.hub, key) != getattr(new.hub, key)
    ]
    return changed


async def _cancel_all(tasks: Sequence[asyncio.Task[None]]) -> None:
    """Cancel ``tasks`` and wait for them; their own errors were already reported by the group.

    Every task but the recorder runs under ``stoppable``, which ends by the stop's deadline.
    """
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
