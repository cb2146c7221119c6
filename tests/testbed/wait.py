"""Waiting in tests: until a condition holds, or fail naming what was awaited.

``eventually`` for async tests and ``wait_until`` for synchronous ones are the only wait loops in the
tests; a helper that waits on something particular (a subscriber, a board, a fleet of hubs) calls one of
them. ``within`` is a deadline for a hang, never a timing the test asserts. The failure names ``what``,
or, when it is left out, the condition's own source text (``sink.accepted >= 20``).
"""

from __future__ import annotations

import asyncio
import inspect
import linecache
import re
import time
from collections.abc import Awaitable, Callable

Condition = Callable[[], object]
Waiter = Callable[[Callable[[], bool]], Awaitable[object]]


async def eventually(
    condition: Condition,
    what: str | None = None,
    within: float = 10.0,
    *,
    woken_by: Waiter | None = None,
    every: float = 0.01,
    detail: Callable[[], object] | None = None,
) -> None:
    """Wait until ``condition()`` is true; fail naming what was awaited after ``within`` s.

    ``condition`` may return an awaitable (an HTTP request, say), which is awaited. It is checked every
    ``every`` s, or, with ``woken_by`` (a ``wait_for(predicate)`` of the thing under test, such as
    ``SerialSource.wait_for``), each time that thing says it changed. ``detail()`` is added to the failure:
    what there was at the deadline.
    """
    try:
        async with asyncio.timeout(within) as deadline:
            if woken_by is not None:
                await woken_by(lambda: bool(condition()))
            else:
                while not await _holds(condition):
                    await asyncio.sleep(every)
    except TimeoutError:
        if not deadline.expired():
            raise
        raise AssertionError(_failure(condition, what, within, detail)) from None


def wait_until(
    condition: Condition,
    what: str | None = None,
    within: float = 30.0,
    *,
    every: float = 0.05,
    detail: Callable[[], object] | None = None,
) -> None:
    """``eventually`` for synchronous tests: check ``condition()`` every ``every`` s until it is true."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(_failure(condition, what, within, detail))
        time.sleep(every)


async def _holds(condition: Condition) -> bool:
    result = condition()
    if inspect.isawaitable(result):
        result = await result
    return bool(result)


def _failure(
    condition: Condition, what: str | None, within: float, detail: Callable[[], object] | None
) -> str:
    message = f"timed out after {within:g} s waiting for {what or describe(condition)}"
    return f"{message} (have {detail()})" if detail is not None else message


def describe(condition: Condition) -> str:
    """The source text of a lambda's body, or the name of any other callable."""
    code = getattr(condition, "__code__", None)
    if code is None or code.co_name != "<lambda>":
        return getattr(condition, "__name__", repr(condition)) + "()"
    spans = [
        (line, end_line, col, end_col)
        for line, end_line, col, end_col in code.co_positions()
        if line is not None and end_line is not None and col is not None and end_col is not None
        if (line, end_line, col, end_col) != (code.co_firstlineno, code.co_firstlineno, 0, 0)
    ]
    if not spans:
        return "a condition"
    start = min((line, col) for line, _, col, _ in spans)
    end = max((end_line, end_col) for _, end_line, _, end_col in spans)
    lines = [linecache.getline(code.co_filename, number).encode() for number in range(start[0], end[0] + 1)]
    if not any(lines):
        return "a condition"
    lines[-1] = lines[-1][: end[1]]
    lines[0] = lines[0][start[1] :]
    text = " ".join(b"".join(lines).decode(errors="replace").split())
    return re.sub(r"([(\[{]) | ([)\]}])", r"\1\2", text)
