"""The recorder: drains every source's sink, feeds in-memory listeners at once, commits in batches.

A batch is committed when it reaches ``batch_size`` readings or ``flush_interval`` after its first
reading, in one transaction on the store's single writer thread. A reading is *acknowledged* when
its transaction commits; ``on_commit`` hooks see each acknowledged batch. While one batch commits
the next one fills, so listeners (windows, rules) are never held up by the disk. When the disk
refuses (full, read-only) the batch is retried until it commits, ``store_error`` says why, and the
sinks fill and apply their overflow policies meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from agent.backoff import Backoff
from agent.pipeline.sink import OverflowPolicy, Sink
from agent.readings import Reading, StreamInfo
from agent.store.readings import ReadingsStore
from agent.store.sqlite import storage_problem

log = logging.getLogger(__name__)

T = TypeVar("T")
Listener = Callable[[Sequence[Reading]], None]


class Recorder:
    """Moves readings from sinks to the store and to listeners; the store's only writer."""

    def __init__(
        self,
        store: ReadingsStore,
        *,
        flush_interval: float = 0.1,
        batch_size: int = 5000,
        queue_size: int = 10_000,
    ) -> None:
        self.store = store
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self.queue_size = queue_size
        self.sinks: list[Sink] = []
        self.listeners: list[Listener] = []
        self.on_commit: list[Listener] = []
        self.committed = 0
        self.batches = 0
        self.commit_failures = 0
        self.last_commit = time.monotonic()
        # Why commits fail right now (None while they succeed), and since when (wall clock).
        self.store_error: str | None = None
        self.store_error_since: float | None = None
        # The failure is the disk's (full, read-only, failing), not a lock another process holds.
        self.disk_refuses = False
        self._wake = asyncio.Event()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hearth-writer")
        self._pending: list[Reading] = []
        self._declared: list[tuple[str, StreamInfo]] = []
        self._first_pending = 0.0
        self._commit_task: asyncio.Task[None] | None = None
        # The run loop, settle() and flush() may each start a commit: one at a time, in order.
        self._committing = asyncio.Lock()
        self._closed = False

    # -- wiring ------------------------------------------------------------------------------------

    def sink(self, name: str, kind: str, policy: OverflowPolicy, maxsize: int | None = None) -> Sink:
        """Create the bounded sink through which source ``name`` reaches the recorder."""
        sink = Sink(name, kind, maxsize=maxsize or self.queue_size, policy=policy, wake=self._wake.set)
        self.sinks.append(sink)
        return sink

    async def in_writer(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn(*args)`` on the store's writer thread (retention, health, adoption)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer, fn, *args)

    # -- running -----------------------------------------------------------------------------------

    async def run(self) -> None:
        """Drain and commit until cancelled; on cancellation the caller should ``close()``."""
        while True:
            if not self._has_queued():
                timeout = None
                if self._pending:
                    timeout = max(0.0, self._first_pending + self.flush_interval - time.monotonic())
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation
                # that arrives as the wait completes, and the recorder would never stop.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await self._wake.wait()
                self._wake.clear()
            self._drain()
            if len(self._pending) >= self.batch_size or (
                self._pending and time.monotonic() - self._first_pending >= self.flush_interval
            ):
                await self._start_commit()

    def _has_queued(self) -> bool:
        return any(len(s) or s.declarations for s in self.sinks)

    def _drain(self) -> None:
        """Move queued readings into the pending batch and hand them to listeners."""
        pending = self._pending
        room = self.batch_size - len(pending)
        start = len(pending)
        for sink in self.sinks:
            if sink.declarations:
                self._declared.extend(sink.take_declarations())
            if room > 0 and len(sink):
                room -= sink.take(pending, room)
        if len(pending) > start:
            if start == 0:
                self._first_pending = time.monotonic()
            if self.listeners:
                fresh = pending[start:]
                for listener in self.listeners:
                    try:
                        listener(fresh)
                    except Exception:
                        log.exception("reading listener %r failed", listener)

    async def _start_commit(self) -> None:
        """Wait for the previous commit, then commit the pending batch in the background."""
        async with self._committing:
            if self._commit_task is not None:
                # Shielded: cancelling the recorder must not abandon a batch that is being committed.
                await asyncio.shield(self._commit_task)
            batch, self._pending = self._pending, []
            declared, self._declared = self._declared, []
            if batch or declared:
                self._commit_task = asyncio.create_task(self._commit(batch, declared), name="commit")

    async def _commit(self, batch: list[Reading], declared: list[tuple[str, StreamInfo]]) -> None:
        """Commit one batch, retrying while the file is locked or the disk refuses.

        Until it commits the batch is not acknowledged; meanwhile sinks fill and apply their policy.
        """
        backoff = Backoff(base=0.05, cap=5.0)
        while True:
            try:
                await self.in_writer(self.store.write_batch, batch, declared)
                break
            except sqlite3.OperationalError as exc:
                self.commit_failures += 1
                if backoff.attempts == 0:
                    log.error("cannot commit %d readings, retrying: %s", len(batch), exc)
                    problem = storage_problem(exc, self.store.path.parent)
                    self.disk_refuses = problem is not None
                    self.store_error = problem or str(exc)
                    self.store_error_since = time.time()
                await asyncio.sleep(backoff.next_delay())
        if backoff.attempts:
            log.info("committing again after %d failed attempts", backoff.attempts)
            self.store_error = self.store_error_since = None
            self.disk_refuses = False
        self.committed += len(batch)
        self.batches += 1
        self.last_commit = time.monotonic()
        for hook in self.on_commit:
            hook(batch)

    async def settle(self) -> None:
        """Commit what the sources handed over until now, while the recorder runs (before an erase)."""
        for _ in range(self.queued // self.batch_size + 2):
            self._drain()
            await self._start_commit()
        if self._commit_task is not None:
            await asyncio.shield(self._commit_task)

    async def flush(self) -> None:
        """Commit everything queued or pending now (used at shutdown and by tests)."""
        while True:
            self._drain()
            if self._pending or self._declared:
                await self._start_commit()
            elif not self._has_queued():
                break
        if self._commit_task is not None:
            await asyncio.shield(self._commit_task)
            self._commit_task = None

    async def close(self, limit: float = 10.0) -> None:
        """Flush within ``limit`` seconds, then release the writer thread; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            async with asyncio.timeout(limit):
                await self.flush()
        except TimeoutError:
            log.error(
                "recorder flush did not finish within %.1f s; %d readings not stored", limit, self.queued
            )
            if self._commit_task is not None:
                self._commit_task.cancel()
        finally:
            self._writer.shutdown(wait=True)

    @property
    def queued(self) -> int:
        """Readings waiting in sinks or in the pending batch (not yet acknowledged)."""
        return sum(len(s) for s in self.sinks) + len(self._pending)
