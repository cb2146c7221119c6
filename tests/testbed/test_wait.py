"""The tests' one wait: it returns once the condition holds, and a timeout names what was awaited."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from tests.testbed.wait import describe, eventually, wait_until


async def test_returns_once_the_condition_holds() -> None:
    ticks: list[int] = []

    async def tick() -> None:
        for i in range(5):
            await asyncio.sleep(0)
            ticks.append(i)

    task = asyncio.create_task(tick())
    await eventually(lambda: len(ticks) == 5, "five ticks")
    await task


async def test_a_timeout_names_what_was_awaited() -> None:
    with pytest.raises(AssertionError, match=r"^timed out after 0.05 s waiting for the broker$"):
        await eventually(lambda: False, "the broker", within=0.05)


async def test_without_a_name_the_lambda_says_what_was_awaited() -> None:
    accepted = 3
    with pytest.raises(AssertionError, match=r"waiting for accepted >= 20$"):
        await eventually(lambda: accepted >= 20, within=0.05)
    hubs = {"kitchen": "applied", "garage": "rolled_back"}
    expected = r"waiting for all\(state == \"applied\" for state in hubs.values\(\)\) and accepted >= 3$"
    with pytest.raises(AssertionError, match=expected):
        wait_until(
            lambda: (
                all(state == "applied" for state in hubs.values()) and accepted >= 3
            ),  # a condition over several lines
            within=0.05,
        )


def test_describe_names_a_callable_that_is_not_a_lambda() -> None:
    event = asyncio.Event()
    assert describe(event.is_set) == "is_set()"


async def test_detail_says_what_there_was_at_the_deadline() -> None:
    reports = {"hub-a": "applied"}
    with pytest.raises(AssertionError, match=r"waiting for hub-b \(have \{'hub-a': 'applied'\}\)$"):
        await eventually(lambda: "hub-b" in reports, "hub-b", within=0.05, detail=lambda: reports)


async def test_an_async_condition_is_awaited() -> None:
    calls: list[int] = []

    async def third_call() -> bool:
        calls.append(1)
        return len(calls) >= 3

    await eventually(third_call, "the third call", every=0)
    assert len(calls) == 3


class Board:
    """Something under test that says when it changed."""

    def __init__(self) -> None:
        self.value = 0
        self._changed = asyncio.Event()

    def set(self, value: int) -> None:
        self.value = value
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            await self._changed.wait()


async def test_woken_by_checks_at_each_change_the_thing_reports() -> None:
    board = Board()

    async def count() -> None:
        for value in range(1, 4):
            await asyncio.sleep(0)
            board.set(value)

    task = asyncio.create_task(count())
    # The waiter checks after each change, so an exact count in the middle of a burst is seen.
    await eventually(lambda: board.value == 2, woken_by=board.wait_for)
    assert board.value == 2
    await task

    with pytest.raises(AssertionError, match=r"waiting for board.value == 9$"):
        await eventually(lambda: board.value == 9, within=0.05, woken_by=board.wait_for)


def test_the_synchronous_form_times_out_naming_what() -> None:
    with pytest.raises(AssertionError, match=r"^timed out after 0.1 s waiting for the socket$"):
        wait_until(lambda: False, "the socket", within=0.1, every=0.01)
