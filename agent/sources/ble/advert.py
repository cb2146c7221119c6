"""What a scanner hands over (``Advert``), the scanner interface, and the clock the source runs on."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol


class Advert(NamedTuple):
    """One received advertisement, as bleak reports it (a plain tuple: it is the hottest path).

    ``device`` is the backend's device handle (bleak's ``BLEDevice``) or None for replayed adverts.
    """

    address: str
    name: str | None
    rssi: int
    manufacturer_data: Mapping[int, bytes]
    service_data: Mapping[str, bytes]
    service_uuids: Sequence[str]
    device: Any = None


AdvertCallback = Callable[[Advert], None]


class AdvertScanner(Protocol):
    """A source of adverts: bleak on real hardware, a replay in the demo, a fake in tests.

    ``start`` returns once scanning runs (raising if it cannot start) and calls ``on_advert`` for
    every advert until ``stop``; ``stop`` is safe to call twice. ``failed`` is set with the error
    when scanning dies on its own after a successful start.
    """

    mode: str

    async def start(self, on_advert: AdvertCallback) -> None:
        """Start scanning; raise the backend's error if it cannot."""
        ...

    async def stop(self) -> None:
        """Stop scanning (idempotent)."""
        ...

    @property
    def failed(self) -> asyncio.Future[BaseException]:
        """Resolves with the error if scanning dies after a successful start."""
        ...


class FailureFuture:
    """A scanner's ``failed`` future, made on first use (it needs the running loop), new at each start."""

    _failed: asyncio.Future[BaseException] | None = None

    @property
    def failed(self) -> asyncio.Future[BaseException]:
        """Resolves with the error if scanning dies after a successful start."""
        if self._failed is None:
            self._failed = asyncio.get_running_loop().create_future()
        return self._failed

    def _renew_failed(self) -> None:
        """A fresh, unresolved ``failed`` for a new start."""
        self._failed = asyncio.get_running_loop().create_future()


class Clock(Protocol):
    """Monotonic time and sleeping, injectable so tests can pass 90 s without waiting."""

    def monotonic(self) -> float:
        """Seconds on a monotonic clock."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` on this clock."""
        ...


class SystemClock:
    """The real monotonic clock and ``asyncio.sleep``."""

    def monotonic(self) -> float:
        """Seconds on the system's monotonic clock."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """Sleep on the event loop."""
        await asyncio.sleep(seconds)
