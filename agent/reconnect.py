"""Keeping a link up: one small state machine for every reconnecting client (after aioesphomeapi's).

Every link the hub keeps up (the upstream, local and fleet brokers, a serial board, a GATT device,
the BLE scanner) runs its sessions through a ``ReconnectLogic``::

    CONNECTING ── connected() ──> CONNECTED
        │                             │
        └─ failed(why) / ended() ─────┴──> DISCONNECTED ── backoff ──> CONNECTING ...
    any state ── cancelled ──> STOPPED

The owner is told each thing once: the first failure of a streak as a warning (the next ones of the
same streak at debug level, with ``failures`` counting them), the recovery that ends a streak at info,
and the very first connection at info. Every change of state is logged at debug level. A session
that ends without an error (the far end closed cleanly) is no failure: the link waits out its backoff
and connects again. The backoff (``agent.backoff.Backoff``: capped, jittered) starts again from its
base on every connection.

A library can turn the cancellation of a stop into its own error (aiomqtt raising ``MqttError`` from a
disconnect the stop interrupted): ``run`` asks ``cancel_requested`` first, so a stop is never logged
as an outage and retried.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable
from typing import NoReturn

from agent.aio import cancel_requested
from agent.backoff import Backoff

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


class LinkState(enum.Enum):
    """Where a link is; ``value`` is the word health rows and logs use."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"  # after a failure or a clean end: waiting out the backoff
    STOPPED = "stopped"


class ReconnectLogic:
    """The state of one link, and the loop that keeps it up (``run``)."""

    def __init__(
        self,
        name: str,
        backoff: Backoff,
        *,
        logger: logging.Logger = log,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.name = name
        """What the logs call the link: ``upstream broker mqtt.example:8883``, ``GATT device strap``."""
        self.backoff = backoff
        self.state = LinkState.CONNECTING
        self.failing = False
        """True from a failure until the next connection: a failure streak."""
        self.failures = 0  # in the current streak
        self.connections = 0
        self.last_error: str | None = None
        """Why the latest attempt failed or the link went down; None while it is connected."""
        self._log = logger
        self._sleep = sleep

    # -- the transitions (pure: they log, they do no I/O) ---------------------------------------------

    def connecting(self) -> None:
        """An attempt starts."""
        self._enter(LinkState.CONNECTING)

    def connected(self, detail: str = "") -> None:
        """The link is up (after its handshake, where it has one): the streak, if any, is over."""
        suffix = f" ({detail})" if detail else ""
        if self.failing:
            self._log.info("%s is back%s after %d failed attempts", self.name, suffix, self.failures)
        elif self.connections == 0:
            self._log.info("%s is up%s", self.name, suffix)
        self.failing = False
        self.failures = 0
        self.last_error = None
        self.connections += 1
        self.backoff.reset()
        self._enter(LinkState.CONNECTED)

    def failed(self, why: str) -> None:
        """The attempt failed or the link went down because of ``why``."""
        self.failures += 1
        self.last_error = why
        if not self.failing:
            self.failing = True
            self._log.warning("%s is down: %s; retrying with backoff", self.name, why)
        else:
            self._log.debug("%s failed again (%d in a row): %s", self.name, self.failures, why)
        self._enter(LinkState.DISCONNECTED)

    def ended(self) -> None:
        """The session ended without an error: connect again after the backoff, no failure."""
        self._enter(LinkState.DISCONNECTED)

    def stopped(self) -> None:
        """The owner stopped the link."""
        self._enter(LinkState.STOPPED)

    def _enter(self, state: LinkState) -> None:
        if state is not self.state:
            self._log.debug("%s: %s -> %s", self.name, self.state.value, state.value)
            self.state = state

    # -- the loop ----------------------------------------------------------------------------------

    async def run(
        self,
        session: Callable[[], Awaitable[object]],
        *,
        outages: tuple[type[Exception], ...] = (Exception,),
        describe: Callable[[Exception], str] = str,
        on_failure: Callable[[Exception], Awaitable[None]] | None = None,
    ) -> NoReturn:
        """Run ``session`` again and again, waiting out the backoff between runs, until cancelled.

        ``session`` connects, calls ``connected()`` once its link is up, and serves it until it ends
        or raises. An error among ``outages`` is a failure (described by ``describe``, then handed
        to ``on_failure``); any other error ends ``run`` and propagates.
        """
        try:
            while True:
                self.connecting()
                try:
                    await session()
                except outages as exc:
                    if cancel_requested():  # the error a stop caused is not an outage
                        raise asyncio.CancelledError from exc
                    self.failed(describe(exc))
                    if on_failure is not None:
                        await on_failure(exc)
                else:
                    self.ended()
                await self._sleep(self.backoff.next_delay())
        finally:
            self.stopped()
