"""The publisher: drains the outbox in sequence order through a bounded window of QoS 1 publishes.

Rows are deleted (and each publish audited) only after their PUBACK. When the link drops, unacked
rows stay queued and are sent again, in order, after a jittered backoff: consumers may see a QoS 1
duplicate, which the sequence number in every message lets them discard. A message the broker
refuses, or one larger than the broker's Maximum Packet Size, is set aside and audited so it never
blocks the messages behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from agent.backoff import Backoff
from agent.consent import outbox
from agent.errors import UpstreamError
from agent.reconnect import ReconnectLogic
from agent.store.sqlite import storage_problem
from agent.store.worker import LedgerWorker
from agent.sync.link import Connector, Link, LinkDownError

log = logging.getLogger(__name__)

T = TypeVar("T")

# Fixed MQTT overhead of a QoS 1 PUBLISH besides topic and payload (header, lengths, packet id,
# properties length), rounded up.
_PUBLISH_OVERHEAD = 16


def packet_size(topic: str, payload: bytes) -> int:
    """Size of the PUBLISH packet carrying ``payload`` on ``topic`` (an upper bound)."""
    return _PUBLISH_OVERHEAD + len(topic.encode()) + len(payload)


class Publisher:
    """Keeps the broker connection up (``ReconnectLogic``: connect → drain → lost → backoff) and drains."""

    def __init__(
        self,
        ledger: LedgerWorker,
        connector: Connector,
        *,
        max_inflight: int = 32,
        backoff: Backoff | None = None,
        idle_poll_s: float = 1.0,
        clock: Callable[[], float] = time.time,
        data_dir: Path | None = None,
    ) -> None:
        self.ledger = ledger
        self.data_dir = data_dir  # to tell a full or read-only disk from a locked ledger
        self.connector = connector
        self.max_inflight = max_inflight
        self.backoff = backoff or Backoff(base=0.5, cap=60.0)
        self.reconnect = ReconnectLogic("upstream broker", self.backoff, logger=log)
        self.idle_poll_s = idle_poll_s
        self.clock = clock
        self.wake = asyncio.Event()
        self.connected = asyncio.Event()
        self.acked = 0
        self.set_aside = 0
        # What the ledger was last told (``outbox.record_state``), for the status report.
        self.state = "starting"
        self.state_since = clock()

    @property
    def last_error(self) -> str | None:
        """Why the latest connection attempt failed or the link went down; None while connected."""
        return self.reconnect.last_error

    def notify(self) -> None:
        """New rows were queued: drain them now rather than at the next poll."""
        self.wake.set()

    async def run(self) -> None:
        """Connect, drain and reconnect until cancelled."""
        try:
            await self._run()
        finally:
            self.state, self.state_since = "stopped", self.clock()
            with contextlib.suppress(Exception):
                await asyncio.shield(
                    self.ledger.run(
                        outbox.record_state, {"state": "stopped", "since": self.clock(), "error": None}
                    )
                )

    async def _run(self) -> None:
        await self.reconnect.run(
            self._session, outages=(UpstreamError,), describe=_message, on_failure=self._lost
        )

    async def _session(self) -> None:
        try:
            async with self.connector.connect() as link:
                await self._connected()
                await self._drain(link)
        except sqlite3.OperationalError as exc:
            # The ledger was locked past its busy timeout (a long CLI export, say), or its disk refuses
            # writes (full, read-only): try again later.
            problem = storage_problem(exc, self.data_dir) or f"the ledger is busy ({exc})"
            log.error("upstream paused: %s", problem)
        finally:
            self.connected.clear()

    async def _connected(self) -> None:
        self.reconnect.connected()
        self.connected.set()
        self.state, self.state_since = "connected", self.clock()
        await self.ledger.run(
            outbox.record_state, {"state": "connected", "since": self.clock(), "error": None}
        )

    async def _lost(self, exc: Exception) -> None:
        self.state, self.state_since = "disconnected", self.clock()
        try:
            await self.ledger.run(
                outbox.record_state, {"state": "disconnected", "since": self.clock(), "error": _message(exc)}
            )
        except sqlite3.OperationalError as refused:
            # The state is for `hearth sync status`; not recording it (a full disk, say) must not end the
            # publisher, or nothing would be sent again once the disk has room.
            problem = storage_problem(refused, self.data_dir) or f"the ledger is busy ({refused})"
            log.error("upstream link state not recorded: %s", problem)

    async def _drain(self, link: Link) -> None:
        size = self.max_inflight
        if link.receive_maximum:
            size = max(1, min(size, link.receive_maximum))
        window = _Window(self, size)
        flushing = asyncio.create_task(window.flush_forever(), name="outbox-flush")
        after = 0
        try:
            while not link.lost.is_set():
                if flushing.done():
                    flushing.result()
                checked = self.ledger.version()
                rows = await self.ledger.run(outbox.next_batch, after=after, limit=size * 4, now=self.clock())
                if not rows:
                    self.wake.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.idle_poll_s):  # not wait_for: it can lose a stop
                            await _first(self.wake, link.lost)
                    continue
                after = await self._send_rows(link, window, rows, checked)
            raise LinkDownError("connection lost")
        finally:
            flushing.cancel()
            # asyncio.wait, not ``await flushing`` under suppress(CancelledError): that would also
            # swallow a cancellation of this task arriving meanwhile.
            await asyncio.wait([flushing])
            if not flushing.cancelled():
                flushing.exception()  # raised and reported in the loop already; retrieved here
            # Record what was acknowledged even when cancelled, so it is not sent twice.
            await asyncio.shield(window.flush())

    async def _send_rows(self, link: Link, window: _Window, rows: list[outbox.Row], checked: int) -> int:
        """Send ``rows`` (valid as of ledger version ``checked``); return the last sequence among them.

        Before each send, if anything was committed to the ledger since the rows were last checked
        (a revocation from the CLI, say), the rows still waiting are checked again, so a message of
        a revoked or expired grant never goes out after the revocation committed.
        """
        limit = link.max_packet_size
        pending = []
        for row in rows:
            if limit is not None and packet_size(row.topic, row.payload) > limit:
                await self._set_aside(row, f"larger than the broker's maximum packet size {limit}")
            else:
                pending.append(row)
        while pending and not link.lost.is_set():
            free = await window.reserve()
            # Check again until no commit landed while the check ran: one landing between the
            # check's read and its answer reaching this task (a revocation, say) would go unseen.
            while pending and (version := self.ledger.version()) != checked:
                checked = version
                sendable = await self.ledger.run(outbox.sendable, [r.seq for r in pending], now=self.clock())
                pending = [r for r in pending if r.seq in sendable]
            chunk, pending = pending[:free], pending[free:]
            window.unreserve(free - len(chunk))
            # No await from the last version check to the last send: every row sent was sendable in
            # a snapshot no older than that check.
            for row in chunk:
                if link.lost.is_set():
                    window.unreserve(1)
                else:
                    link.send(row.topic, row.payload).add_done_callback(functools.partial(window.done, row))
        # Every row was sent, set aside or found unsendable (or the link is gone and the next
        # connection starts from the oldest queued row again).
        return rows[-1].seq

    async def _set_aside(self, row: outbox.Row, reason: str) -> None:
        log.error("outbox message %d to %s set aside: %s", row.seq, row.topic, reason)
        await self.ledger.run(outbox.set_aside, row, reason, now=self.clock())
        self.set_aside += 1


class _Window:
    """The in-flight publishes of one connection and the acknowledgements not yet recorded."""

    def __init__(self, publisher: Publisher, size: int) -> None:
        self.publisher = publisher
        self.slots = asyncio.Semaphore(size)
        self.acked: list[outbox.Row] = []
        self.refused: list[tuple[outbox.Row, str]] = []
        self.progress = asyncio.Event()

    async def reserve(self) -> int:
        """Wait for a free slot, then take every slot that is free; return how many were taken."""
        await self.slots.acquire()
        taken = 1
        while not self.slots.locked():
            await self.slots.acquire()
            taken += 1
        return taken

    def unreserve(self, count: int) -> None:
        """Give back ``count`` reserved slots that were not used."""
        for _ in range(count):
            self.slots.release()

    def done(self, row: outbox.Row, fut: asyncio.Future[str | None]) -> None:
        self.slots.release()
        self.progress.set()
        if fut.cancelled() or fut.exception() is not None:
            return  # lost with the link: the row stays queued and is sent again
        reason = fut.result()
        if reason is None:
            self.acked.append(row)
        else:
            self.refused.append((row, reason))

    async def flush(self) -> None:
        """Record every acknowledgement and refusal seen so far in the ledger."""
        publisher = self.publisher
        while self.acked or self.refused:
            batch, self.acked = self.acked, []
            await asyncio.shield(publisher.ledger.run(outbox.acknowledged, batch, now=publisher.clock()))
            publisher.acked += len(batch)
            while self.refused:
                row, reason = self.refused.pop(0)
                await publisher._set_aside(row, f"refused by the broker: {reason}")

    async def flush_forever(self) -> None:
        """Flush whenever acknowledgements arrive (they batch up while a flush runs)."""
        while True:
            await self.progress.wait()
            self.progress.clear()
            await self.flush()


def _message(exc: Exception) -> str:
    return exc.message if isinstance(exc, UpstreamError) else str(exc)


async def _first(*events: asyncio.Event) -> None:
    """Wait until any of ``events`` is set."""
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
