"""Fakes at the BLE seams: scanner, clock, adapter reset, GATT connector; and a sink to read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from bleak.exc import BleakDBusError

from agent.pipeline.sink import Sink
from agent.readings import Reading
from agent.sources.ble.advert import Advert, AdvertCallback, FailureFuture
from tests.ble.bluez import FakeBluez, fake_bluez


class FakeClock:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (self.now + seconds, future)
        self._sleepers.append(entry)
        try:
            await future
        finally:
            if entry in self._sleepers:
                self._sleepers.remove(entry)

    async def advance(self, seconds: float, step: float = 1.0) -> None:
        """Move time forward in steps, letting woken tasks run after each step."""
        end = self.now + seconds
        while self.now < end:
            self.now = min(end, self.now + step)
            for due, future in list(self._sleepers):
                if due <= self.now and not future.done():
                    future.set_result(None)
            for _ in range(20):
                await asyncio.sleep(0)

    async def advance_until(
        self, condition: Callable[[], Any], limit: float = 900.0, step: float = 5.0
    ) -> None:
        """Move time forward until ``condition()`` holds; fail if ``limit`` seconds pass first."""
        start = self.now
        while not condition():
            assert self.now - start < limit, "condition not reached in simulated time"
            await self.advance(step, step)


class FakeScanner(FailureFuture):
    """In-process scanner behind the same interface as ``BleakAdvertScanner``."""

    mode = "fake"

    def __init__(self) -> None:
        self.start_errors: list[BaseException] = []
        self.adapter_present = True
        self.starts = 0
        self.stops = 0
        self.running = False
        self.started = asyncio.Event()
        self._callback: AdvertCallback | None = None

    async def start(self, on_advert: AdvertCallback) -> None:
        self.starts += 1
        if not self.adapter_present:
            raise BleakDBusError("org.freedesktop.DBus.Error.UnknownObject", ["adapter hci0 not found"])
        if self.start_errors:
            raise self.start_errors.pop(0)
        self._renew_failed()
        self._callback = on_advert
        self.running = True
        self.started.set()

    async def stop(self) -> None:
        self.stops += 1
        self.running = False
        self._callback = None
        self.started.clear()

    def advertise(self, advert: Advert) -> None:
        if self._callback is not None:
            self._callback(advert)

    def die(self, exc: BaseException) -> None:
        """Scanning dies on its own (bluetoothd restarted, adapter unplugged)."""
        if self._failed is not None and not self._failed.done():
            self._failed.set_result(exc)


class FakeResetter:
    """Counts adapter resets instead of power-cycling hardware."""

    def __init__(self, works: bool = True) -> None:
        self.resets: list[str] = []
        self.works = works

    async def reset(self, adapter: str) -> bool:
        self.resets.append(adapter)
        return self.works


def make_sink(maxsize: int = 10_000) -> Sink:
    return Sink("ble", "ble", maxsize=maxsize, policy="drop_oldest", wake=lambda: None)


def drain(sink: Sink) -> list[Reading]:
    out: list[Reading] = []
    sink.take(out, len(sink))
    return out


@pytest.fixture
async def bluez(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeBluez]:
    """The fake bluetoothd on a private D-Bus, with adapter hci0; bleak in this process talks to it."""
    async with fake_bluez(tmp_path) as fake:
        # bleak's BlueZ backend connects (through dbus-fast) to the bus this variable names.
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", fake.address)
        await fake.add_adapter("hci0")
        yield fake


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def scanner() -> FakeScanner:
    return FakeScanner()


@pytest.fixture
def resetter() -> FakeResetter:
    return FakeResetter()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Soaks in this folder run only when asked for (``-m slow``); their short forms always run."""
    if "slow" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="soak: run with -m slow")
    for item in items:
        if "slow" in item.keywords and "tests/ble/" in item.nodeid:
            item.add_marker(skip)
