"""The reconnect helper every link uses: its states, what it logs once, backoff, cancellation."""

from __future__ import annotations

import asyncio
import logging
import random

import pytest

from agent.backoff import Backoff
from agent.reconnect import LinkState, ReconnectLogic, Sleep

LOGGER = "tests.link"


def said(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == level]


def logic(sleep: Sleep = asyncio.sleep) -> ReconnectLogic:
    backoff = Backoff(base=1.0, cap=8.0, rng=random.Random(7))
    return ReconnectLogic("board bench", backoff, logger=logging.getLogger(LOGGER), sleep=sleep)


def jittered(delays: list[float], ceilings: list[float]) -> bool:
    """Each delay lies in the upper half of its ceiling (``Backoff``'s jitter)."""
    return all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))


def test_a_failure_streak_is_logged_once_and_its_recovery_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    link = logic()
    link.connected("firmware 1.0")
    for why in ("port closed", "port lost", "port lost"):
        link.connecting()
        link.failed(why)
    assert (link.state, link.failing, link.failures, link.last_error) == (
        LinkState.DISCONNECTED,
        True,
        3,
        "port lost",
    )
    link.connecting()
    link.connected("firmware 1.1")
    link.connecting()  # a clean end and a new connection: nothing for the owner
    link.ended()
    link.connected()
    link.failed("unplugged")  # a new streak is told again
    assert said(caplog, logging.INFO) == [
        "board bench is up (firmware 1.0)",
        "board bench is back (firmware 1.1) after 3 failed attempts",
    ]
    assert said(caplog, logging.WARNING) == [
        "board bench is down: port closed; retrying with backoff",
        "board bench is down: unplugged; retrying with backoff",
    ]
    assert "board bench failed again (3 in a row): port lost" in said(caplog, logging.DEBUG)
    assert (link.connections, link.failures) == (3, 1)


def test_each_change_of_state_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    link = logic()
    link.connecting()  # already connecting: no change, nothing logged
    link.failed("refused")
    link.failed("refused")
    link.stopped()
    link.stopped()
    changes = [m for m in said(caplog, logging.DEBUG) if "->" in m]
    assert changes == ["board bench: connecting -> disconnected", "board bench: disconnected -> stopped"]


def test_a_connection_starts_the_backoff_from_its_base_again() -> None:
    link = logic()
    assert jittered([link.backoff.next_delay() for _ in range(5)], [1, 2, 4, 8, 8])
    link.connected()
    assert link.backoff.attempts == 0
    assert jittered([link.backoff.next_delay()], [1])


class Script:
    """A session that plays ``steps`` one per run: an exception to raise, "up" (connect, end cleanly)."""

    def __init__(self, link: ReconnectLogic, *steps: object) -> None:
        self.link = link
        self.steps = list(steps)
        self.seen: list[tuple[LinkState, bool]] = []
        self.done = asyncio.Event()

    async def __call__(self) -> None:
        self.seen.append((self.link.state, self.link.failing))
        if not self.steps:
            self.done.set()
            await asyncio.Event().wait()  # the last run stays up until cancelled
        step = self.steps.pop(0)
        if isinstance(step, BaseException):
            raise step
        self.link.connected()


async def test_run_retries_failures_with_backoff_and_stops_when_cancelled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    delays: list[float] = []
    events: list[str] = []

    async def sleep(delay: float) -> None:
        delays.append(delay)
        events.append("backoff")

    link = logic(sleep)

    async def on_failure(exc: Exception) -> None:
        events.append(type(exc).__name__)

    session = Script(link, OSError("refused"), OSError("refused"), "up", TimeoutError("no HELLO"))
    task = asyncio.create_task(link.run(session, outages=(OSError,), on_failure=on_failure))
    await asyncio.wait_for(session.done.wait(), 5)
    assert session.seen == [
        (LinkState.CONNECTING, False),
        (LinkState.CONNECTING, True),
        (LinkState.CONNECTING, True),
        (LinkState.CONNECTING, False),  # the clean end after "up" was no failure
        (LinkState.CONNECTING, True),
    ]
    # each failure is handed over before its backoff; the clean end has a backoff and no failure
    assert events == ["OSError", "backoff", "OSError", "backoff", "backoff", "TimeoutError", "backoff"]
    # two failures (1 s, 2 s ceilings), a connection (back to 1 s), a clean end, a failure (2 s)
    assert jittered(delays, [1, 2, 1, 2])
    assert len(said(caplog, logging.WARNING)) == 2
    assert said(caplog, logging.INFO) == ["board bench is back after 2 failed attempts"]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert link.state is LinkState.STOPPED


async def test_an_error_a_stop_caused_is_not_an_outage(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    link = logic()
    started = asyncio.Event()

    async def session() -> None:
        # A client library that turns the cancellation of its disconnect into its own error.
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise ConnectionError("disconnected during the request") from None

    task = asyncio.create_task(link.run(session, outages=(ConnectionError,)))
    await asyncio.wait_for(started.wait(), 5)
    started.clear()
    task.cancel()
    again = asyncio.ensure_future(started.wait())
    await asyncio.wait([task, again], return_when=asyncio.FIRST_COMPLETED)
    again.cancel()
    assert task.done(), "the stop was taken for an outage and the session started again"
    with pytest.raises(asyncio.CancelledError):
        task.result()
    assert link.state is LinkState.STOPPED
    assert (link.failing, link.failures) == (False, 0)
    assert said(caplog, logging.WARNING) == []


async def test_an_error_that_is_no_outage_ends_the_loop() -> None:
    link = logic()

    async def session() -> None:
        raise KeyError("a bug, not an outage")

    with pytest.raises(KeyError):
        await link.run(session, outages=(OSError,))
    assert link.state is LinkState.STOPPED
    assert link.failures == 0
