"""A source's bounded queue into the recorder, with its overflow policy and counters."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Literal

from agent.readings import Reading, StreamInfo

OverflowPolicy = Literal["block", "drop_oldest", "drop_newest"]


class Sink:
    """Where one source puts its readings.

    ``put`` waits for room under the ``block`` policy; ``put_nowait`` never waits and, when the
    queue is full, drops the oldest or the newest reading by policy and counts it. Callbacks that
    cannot await (BLE detection callbacks) use ``put_nowait``. ``stats`` holds the source's own
    counters (frames, CRC errors, ...), shown by ``hearth status``.
    """

    __slots__ = (
        "_items",
        "_room",
        "_wake",
        "accepted",
        "declarations",
        "dropped",
        "kind",
        "last_put",
        "maxsize",
        "name",
        "policy",
        "stats",
    )

    def __init__(
        self,
        name: str,
        kind: str,
        *,
        maxsize: int,
        policy: OverflowPolicy,
        wake: Callable[[], None],
    ) -> None:
        self.name = name
        self.kind = kind
        self.maxsize = maxsize
        self.policy: OverflowPolicy = policy
        self._items: deque[Reading] = deque()
        self._wake = wake
        self._room = asyncio.Event()
        self.accepted = 0
        self.dropped = 0
        self.last_put = 0.0  # monotonic time of the last reading, for silence watchdogs
        self.declarations: list[tuple[str, StreamInfo]] = []
        self.stats: dict[str, int] = {}

    def declare(self, info: StreamInfo) -> None:
        """Announce a stream before its first reading; the recorder creates it with the next batch."""
        self.declarations.append((self.kind, info))
        self._wake()

    def put_nowait(self, reading: Reading) -> bool:
        """Queue ``reading`` without waiting; return False if a reading was dropped to make it fit."""
        items = self._items
        self.last_put = time.monotonic()
        if len(items) >= self.maxsize:
            self.dropped += 1
            if self.policy == "drop_newest":
                return False
            items.popleft()
            items.append(reading)
            self.accepted += 1
            return False
        items.append(reading)
        self.accepted += 1
        if len(items) == 1:
            self._wake()
        return True

    def put_all(self, readings: list[Reading]) -> None:
        """Queue ``readings`` without waiting, exactly as ``put_nowait`` one by one would."""
        if not readings:
            return
        items = self._items
        n = len(items)
        if n + len(readings) > self.maxsize:
            for reading in readings:
                self.put_nowait(reading)
            return
        self.last_put = time.monotonic()
        items.extend(readings)
        self.accepted += len(readings)
        if not n:
            self._wake()

    async def put(self, reading: Reading) -> None:
        """Queue ``reading``; under ``block`` wait for room, otherwise behave as ``put_nowait``."""
        if self.policy == "block":
            while len(self._items) >= self.maxsize:
                self._room.clear()
                await self._room.wait()
        self.put_nowait(reading)

    def take(self, out: list[Reading], limit: int) -> int:
        """Move up to ``limit`` queued readings into ``out``; return how many moved."""
        items = self._items
        n = min(limit, len(items))
        if n == len(items):
            out.extend(items)
            items.clear()
        else:
            popleft = items.popleft
            out.extend([popleft() for _ in range(n)])
        if n:
            self._room.set()
        return n

    def take_declarations(self) -> list[tuple[str, StreamInfo]]:
        """Hand over the streams declared since the last call."""
        taken, self.declarations = self.declarations, []
        return taken

    def __len__(self) -> int:
        return len(self._items)
