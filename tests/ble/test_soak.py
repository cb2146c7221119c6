"""Sustained advert load (300/s with bursts of 1,000/s) reaches the store without falling behind."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from agent.pipeline.recorder import Recorder
from agent.sources.ble.adoption import Adoption
from agent.sources.ble.source import BleSource
from agent.store.readings import open_readings
from tests.ble import payloads as p
from tests.ble.conftest import FakeClock, FakeResetter, FakeScanner
from tests.testbed.wait import eventually

DEVICES = [f"A4:C1:38:00:00:{i:02X}" for i in range(20)]


async def run_load(tmp_path: Path, seconds: int) -> None:
    store = open_readings(tmp_path)
    recorder = Recorder(store, flush_interval=0.1)
    scanner = FakeScanner()
    source = BleSource(
        "ble",
        scanner,
        clock=FakeClock(),
        resetter=FakeResetter(),
        adoptions=[Adoption(a, f"sensor{i}") for i, a in enumerate(DEVICES)],
    )
    sink = recorder.sink("ble", "ble", source.overflow)
    recording = asyncio.create_task(recorder.run())
    task = asyncio.create_task(source.run(sink))
    await eventually(scanner.started.is_set, "the scanner to start")
    sent = 0
    peak_backlog = 0
    start = time.monotonic()
    for second in range(seconds):
        # every third second is a burst of 1,000; each device repeats every advert twice
        rate = 1000 if second % 3 == 2 else 300
        for tick in range(10):
            for _ in range(rate // 10):
                device = DEVICES[sent // 2 % len(DEVICES)]  # each advert arrives twice in a row
                advert = p.bthome_temp(sent // 2 % 5000, device)
                scanner.advertise(advert)
                sent += 1
            peak_backlog = max(peak_backlog, recorder.queued)
            # pace the load generator in real time: 10 slices per second
            await asyncio.sleep(max(0.0, start + second + (tick + 1) / 10 - time.monotonic()))
    await eventually(lambda: recorder.committed == source.readings, within=30)
    task.cancel()
    recording.cancel()
    for t in (task, recording):
        with pytest.raises(asyncio.CancelledError):
            await t
    await recorder.close()
    assert sink.dropped == 0
    assert source.adverts == sent
    assert source.repeats >= sent // 2 - len(DEVICES)
    assert store.count_readings() == source.readings
    assert peak_backlog < 2000, "the recorder keeps up: the backlog stays within a second's load"
    store.close()


async def test_sustained_load_short(tmp_path: Path) -> None:
    await run_load(tmp_path, 3)


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_sustained_load_soak(tmp_path: Path) -> None:
    await run_load(tmp_path, 120)
