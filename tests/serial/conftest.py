"""Fixtures for the serial source tests: a real recorder and readings store on a tmp dir."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from serial_support import Hub

from agent.pipeline.recorder import Recorder
from agent.store.readings import open_readings


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    store = open_readings(tmp_path / "data")
    recorder = Recorder(store, flush_interval=0.05)
    runner = asyncio.create_task(recorder.run(), name="recorder")
    hub = Hub(store, recorder, [])
    try:
        yield hub
    finally:
        for task in hub.tasks:
            task.cancel()
        await asyncio.gather(*hub.tasks, return_exceptions=True)
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        await recorder.close()
        store.close()
