"""Small asyncio helpers that keep cancellation reliable on Python 3.11, and stops bounded."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

# How often a cancelled task that has not ended yet is cancelled again.
RECANCEL_EVERY = 0.5
_ASYNCIO = os.path.dirname(asyncio.__file__) + os.sep


def cancel_requested() -> bool:
    """True when the current task has been asked to stop.

    A library can turn a cancellation into its own error (aiomqtt raising MqttError from a
    disconnect that the cancellation interrupted). A loop that retries on such errors asks this
    first, so a stop request is never mistaken for a failure and retried forever.
    """
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]], limit: float | None) -> list[asyncio.Task[Any]]:
    """Cancel ``tasks``, wait up to ``limit`` s (None: no limit) for them to end; return those still running.

    A task is cancelled again every ``RECANCEL_EVERY`` s until it ends: on Python 3.11
    ``asyncio.wait_for`` (inside aiomqtt, for one) drops a cancellation that arrives as the future
    it waits on completes.
    """
    deadline = None if limit is None else time.monotonic() + limit
    pending = [task for task in tasks if not task.done()]
    while pending:
        for task in pending:
            task.cancel()
        wait = RECANCEL_EVERY if deadline is None else min(RECANCEL_EVERY, deadline - time.monotonic())
        if wait <= 0:
            break
        await asyncio.wait(pending, timeout=wait)
        pending = [task for task in pending if not task.done()]
    return pending


async def stoppable(
    coro: Coroutine[Any, Any, T],
    *,
    name: str,
    grace: Callable[[], float],
    abandoned: set[asyncio.Task[Any]] | None = None,
) -> T:
    """Run ``coro`` as task ``name``; once cancelled, give it ``grace()`` s to end, then abandon it.

    An abandoned task is added to ``abandoned``, so the owner knows its stop was not clean.

    A task group waits for its children however long they take, so one task that outlives its
    cancellation (or a nested group waiting on such a task) would hold up a whole stop. Run under
    this wrapper, it is logged as an error naming where it hangs, and the stop goes on.
    """
    task = asyncio.create_task(coro, name=name)
    try:
        await asyncio.wait([task])
    except asyncio.CancelledError:
        limit = grace()
        if not await cancel_and_wait([task], limit):
            return task.result()  # its own error, if it ended with one, is still reported
        # A task that lost its cancellation (the usual culprit) still counts it: name those too.
        others = [
            t
            for t in asyncio.all_tasks()
            if t.cancelling()
            and not t.done()
            and t is not task
            and getattr(t.get_coro(), "cr_code", None) is not _GUARD
        ]
        log.error(
            "abandoning %s: it did not stop within %.1f s of being cancelled. "
            "Cancelled but still running: %s",
            describe(task),
            limit,
            "; ".join(describe(t) for t in others) or "nothing else",
        )
        if abandoned is not None:
            abandoned.add(task)
        raise
    return task.result()


_GUARD = stoppable.__code__


def describe(task: asyncio.Task[Any]) -> str:
    """Task ``name`` (its coroutine) and where it is suspended (outside asyncio itself), for logs."""
    coro: Any = task.get_coro()
    what = getattr(coro, "__qualname__", type(coro).__name__)
    ours = inner = None
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is None:
            break
        inner = frame.f_code.co_qualname
        if not frame.f_code.co_filename.startswith(_ASYNCIO):
            ours = frame
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    if ours is None:
        return f"task {task.get_name()!r} ({what})"
    where = f"{ours.f_code.co_filename}:{ours.f_lineno} in {ours.f_code.co_qualname}"
    awaiting = f", awaiting {inner}" if inner != ours.f_code.co_qualname else ""
    return f"task {task.get_name()!r} ({what}) at {where}{awaiting}"


def run_until_stopped(main: Coroutine[Any, Any, T]) -> T | None:
    """Run ``main`` to its end, or until SIGINT or SIGTERM cancels it; None when a signal stopped it.

    The handlers are installed here rather than left to Python's KeyboardInterrupt: a shell starts a
    background command (``hearth board emulate &`` in a script) with SIGINT ignored, and a command that
    relies on KeyboardInterrupt then cannot be stopped by it.
    """

    async def until_stopped() -> T | None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        signalled = False

        def stop() -> None:
            nonlocal signalled
            signalled = True
            task.cancel()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop)
        try:
            return await main
        except asyncio.CancelledError:
            if signalled:
                return None
            raise
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    return asyncio.run(until_stopped())
