"""Helpers for the serial source tests: an emulated board on a real pty, a real recorder and store."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from agent.config.schema import SerialSourceConfig
from agent.pipeline.recorder import Recorder
from agent.pipeline.sink import Sink
from agent.sources.serial import SerialSource
from agent.store.readings import ReadingsStore
from firmware_bridge import Sensor
from firmware_bridge.emulator import BoardEmulator

SENSORS = (Sensor("temperature", "°C"), Sensor("humidity", "%"))
ROWS = [[20.0 + i / 4, 40.0 + i] for i in range(40)]


@dataclass
class Hub:
    """A recorder and store on a tmp dir, with helpers to run serial sources into them."""

    store: ReadingsStore
    recorder: Recorder
    tasks: list[asyncio.Task[None]]

    def start(self, source: SerialSource) -> Sink:
        sink = self.recorder.sink(source.name, source.kind, source.overflow)
        self.tasks.append(asyncio.create_task(source.run(sink), name=f"source:{source.name}"))
        return sink


def board(tmp_path: Path, **options: object) -> BoardEmulator:
    """An emulated board with a stable link in ``tmp_path``."""
    return BoardEmulator(SENSORS, ROWS, link=tmp_path / "by-id-board", **options)  # type: ignore[arg-type]


def source_for(emulator: BoardEmulator, **options: object) -> SerialSource:
    """A serial source reading ``emulator`` through its stable link."""
    settings: dict[str, object] = {"reconnect_max": "500ms", "handshake_timeout": "2s", **options}
    return SerialSource(SerialSourceConfig(name="bench", port=emulator.path, **settings))  # type: ignore[arg-type]
