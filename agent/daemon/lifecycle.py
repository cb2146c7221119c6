"""Running the hub from its config file, starting it again whenever it asks to restart.

A fleet push that changes what the running layers read once (models, rules, upstream, ...) installs
the new file and calls ``Agent.restart()``: the agent stops gracefully, every reading flushed, and
``HubRunner`` loads the file again and starts a fresh agent in the same process, so systemd sees one
service throughout (``RELOADING=1`` then ``READY=1``). The fresh agent's fleet service then confirms
the push or rolls it back. A pushed config that cannot even start is rolled back here, and the
previous file started instead (``agent.fleet.startup``). If the stop before a restart had to abandon a
task that ignored its cancellation, the restart is not made next to it: the process replaces itself
(``exec``) with a fresh ``hearth run`` instead, same PID, so systemd still sees one service.

A data folder on a read-only mount (the kernel remounts a failing SD card read-only) or on a full disk is
not a reason to exit: systemd would only start the hub again and again. The runner says why in the log and
in systemd's STATUS=, keeps pinging the watchdog (a restart cannot help), and tries again every
``storage_retry`` seconds, starting the hub as soon as the folder is writable and has room. Nothing on file
is touched meanwhile: a file the disk had no room to open or migrate is opened as it was at the next try.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

from agent.config import Config, load_config
from agent.daemon.agent import Agent
from agent.daemon.systemd import SystemdNotifier
from agent.errors import UnwritableDataError
from agent.fleet import startup
from agent.store.sqlite import refusal

log = logging.getLogger(__name__)

# How often a hub whose data folder is read-only or full tries to start again.
STORAGE_RETRY = 5.0


class HubRunner:
    """Runs the hub that the config file at ``path`` describes until ``stop()``; restarts it on request."""

    def __init__(
        self,
        path: Path,
        *,
        on_config: Callable[[Config], None] | None = None,
        on_agent: Callable[[Agent], None] | None = None,
        replace_process: Callable[[], None] = lambda: None,
        notifier: SystemdNotifier | None = None,
        storage_retry: float = STORAGE_RETRY,
    ) -> None:
        self.path = path
        self.on_config = on_config  # each config loaded (the CLI sets up logging from it)
        self.on_agent = on_agent  # each agent built, before it runs
        # Restart in a fresh process when the last stop abandoned a task (``exec_self`` for hearth run).
        self.replace_process = replace_process
        self.agent: Agent | None = None
        self.starts = 0
        # systemd hears from the runner only while no agent can start (the agent has its own notifier).
        self.notifier = notifier or SystemdNotifier()
        self.storage_retry = storage_retry
        # Why no agent can start now (the data folder is read-only or its disk full), or None.
        self.waiting: str | None = None
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Stop the running agent gracefully and do not start another (safe from a signal handler)."""
        self._stopping.set()
        if self.agent is not None:
            self.agent.stop()

    async def run(self) -> None:
        """Start the agent, and again after each restart it asks for, until ``stop()``."""
        try:
            await self._run()
        finally:
            self.notifier.close()

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                agent = await self._build()
            except UnwritableDataError as exc:
                await self._wait_for_storage(exc)
                continue
            if self.waiting is not None:
                log.warning("the data folder is writable again: starting")
                self.waiting = None
            if agent is None:
                continue  # a pushed config was rolled back: load the file again
            self.agent = agent
            self.starts += 1
            if self._stopping.is_set():  # stop() came while the agent was being built
                agent.stop()
            try:
                await agent.run()
            except Exception as exc:
                if not await self._rolled_back(exc):
                    raise
                continue
            if not agent.restart_requested:
                return
            if any(not task.done() for task in agent.abandoned):
                log.error("a task outlived the stop: restarting in a fresh process instead")
                self.replace_process()
                return
            log.info("restarting from %s", self.path)

    async def _build(self) -> Agent | None:
        try:
            config = await asyncio.to_thread(load_config, self.path)
            if self.on_config is not None:
                self.on_config(config)
            try:
                if await asyncio.to_thread(startup.count_start, config, self.path):
                    return None
                agent = Agent(config, config_path=self.path)
            except sqlite3.OperationalError as exc:  # a write at start (a start count, a feature's row)
                refused = refusal(exc, Path(config.hub.data_dir))
                if refused is None:
                    raise
                raise refused from exc
        except UnwritableDataError:
            raise  # the disk's fault, not the config's: nothing to roll back
        except Exception as exc:  # any failure to build a pushed config rolls it back, not only ours
            if await self._rolled_back(exc):
                return None
            raise
        if self.on_agent is not None:
            self.on_agent(agent)
        return agent

    async def _wait_for_storage(self, error: UnwritableDataError) -> None:
        """Say why no agent can start; wait ``storage_retry`` s (or until ``stop()``) pinging the watchdog."""
        if self.waiting is None:
            log.error("cannot start: %s; trying again every %g s", error.message, self.storage_retry)
            # Started as far as systemd goes: else its start timeout kills the service and Restart= loops.
            self.notifier.ready()
        self.waiting = error.message
        self.notifier.status(f"not recording: {error.message}; trying again every {self.storage_retry:g} s")
        loop = asyncio.get_running_loop()
        until = loop.time() + self.storage_retry
        ping = self.notifier.watchdog_interval or self.storage_retry
        while not self._stopping.is_set() and (left := until - loop.time()) > 0:
            self.notifier.watchdog()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), min(ping, left))
        if self._stopping.is_set():
            self.notifier.stopping()

    async def _rolled_back(self, exc: BaseException) -> bool:
        """Roll back an unconfirmed pushed config that failed with ``exc``; True if that happened."""
        return await asyncio.to_thread(startup.roll_back_failed_start, self.path, _first_error(exc))


async def run_hub(path: Path, *, on_config: Callable[[Config], None] | None = None) -> None:
    """Run the hub from ``path`` with SIGTERM/SIGINT wired to a graceful stop."""
    runner = HubRunner(path, on_config=on_config, replace_process=exec_self)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, runner.stop)
    try:
        await runner.run()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def exec_self() -> None:
    """Replace this process with the command that started it (same PID; open files close on exec)."""
    logging.shutdown()
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])  # noqa: S606 - our own command line


def _first_error(exc: BaseException) -> BaseException:
    """The first error a TaskGroup's exception group wraps (itself for any other exception)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc
