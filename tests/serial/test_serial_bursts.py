"""Frames that reach the host in one read: a board's HELLO and its first READING arrive together."""

from __future__ import annotations

import asyncio
import os
import tty
from collections.abc import Iterator

import pytest
from serial_support import Hub

from agent.config.schema import SerialSourceConfig
from agent.sources.serial import SerialSource
from firmware_bridge import FrameDecoder, Hello, HelloRequest, Reading, Sensor, encode
from firmware_bridge.codec import Frame
from tests.testbed.wait import eventually


@pytest.fixture
def pty_pair() -> Iterator[tuple[int, str]]:
    """The board's end (master fd) and the port path the host opens."""
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        yield master, os.ttyname(slave)
    finally:
        os.close(master)
        os.close(slave)


async def host_request(master: int) -> int:
    """Wait for the host's HELLO_REQUEST on the board's end; return its sequence number."""
    decoder = FrameDecoder()
    while True:
        data = await asyncio.to_thread(os.read, master, 4096)
        for event in decoder.events(data):
            if isinstance(event, Frame) and isinstance(event.message, HelloRequest):
                return event.seq


def hello(*quantities: str) -> Hello:
    units = {"temperature": "°C", "humidity": "%"}
    return Hello("burst-1", "1.0.0", 1, tuple(Sensor(q, units[q]) for q in quantities))


async def test_hello_and_reading_in_one_read_are_both_taken(hub: Hub, pty_pair: tuple[int, str]) -> None:
    master, port = pty_pair
    source = SerialSource(SerialSourceConfig(name="bench", port=port, handshake_timeout="5s"))
    sink = hub.start(source)
    await host_request(master)
    os.write(master, encode(hello("temperature"), 0) + encode(Reading(0, 21.5), 1))
    await eventually(lambda: sink.accepted == 1 or hub.tasks[0].done(), woken_by=source.wait_for)
    assert not hub.tasks[0].done(), hub.tasks[0]
    await hub.recorder.flush()
    assert hub.store.count_readings("bench.temperature") == 1


async def test_a_new_hello_renames_the_readings_after_it(hub: Hub, pty_pair: tuple[int, str]) -> None:
    master, port = pty_pair
    source = SerialSource(SerialSourceConfig(name="bench", port=port, handshake_timeout="5s"))
    sink = hub.start(source)
    await host_request(master)
    os.write(master, encode(hello("temperature"), 0))
    await asyncio.wait_for(source.connected.wait(), 10)
    # The board was re-flashed with another sensor list and boots again: HELLO then a reading, one read.
    os.write(master, encode(Reading(0, 21.5), 1) + encode(hello("humidity"), 0) + encode(Reading(0, 55.0), 1))
    await eventually(lambda: sink.accepted == 2 or hub.tasks[0].done(), woken_by=source.wait_for)
    assert not hub.tasks[0].done(), hub.tasks[0]
    await hub.recorder.flush()
    assert hub.store.count_readings("bench.temperature") == 1
    assert hub.store.count_readings("bench.humidity") == 1
