"""End to end through a real pty: emulated board → serial source → recorder → SQLite store."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from serial_support import Hub, board, source_for

from agent.errors import BoardCommandError
from firmware_bridge import Error
from tests.testbed.wait import eventually


async def test_readings_faults_unplug_replug_reach_the_store(
    hub: Hub, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="agent.sources.serial.source")
    async with board(tmp_path, rate=100.0) as emulator:
        source = source_for(emulator)
        sink = hub.start(source)
        await asyncio.wait_for(source.connected.wait(), 10)
        assert source.board is not None
        assert source.board.board_id == "emu-0001"
        await eventually(lambda: sink.accepted >= 20, woken_by=source.wait_for)

        emulator.drop_next(3)
        emulator.corrupt_next(2)
        await eventually(lambda: emulator.corrupted == 2, woken_by=emulator.wait_for)
        emulator.inject_garbage()
        emulator.drop_next(1)
        await eventually(lambda: emulator.dropped == 4, woken_by=emulator.wait_for)
        emulator.paused = True
        await eventually(lambda: sink.accepted == emulator.readings_sent, woken_by=source.wait_for)
        stats = source.stats
        assert stats["crc_errors"] == 2
        assert stats["frames_lost"] == 6  # 4 dropped + 2 whose CRC failed
        assert stats["resyncs"] == 1
        # Opening a port discards what was waiting in it: the boot HELLO sent before the host opened.
        assert stats["frames_ok"] == emulator.frames_sent - 1

        emulator.unplug()
        await eventually(lambda: not source.connected.is_set(), woken_by=source.wait_for)
        assert not (tmp_path / "by-id-board").exists()
        with pytest.raises(BoardCommandError, match="not connected"):
            await source.send_command("toggle")
        # the port stays away a while
        await eventually(lambda: source.reconnect.failures >= 3, within=30, woken_by=source.wait_for)
        emulator.replug()
        emulator.paused = False
        await asyncio.wait_for(source.connected.wait(), 10)
        before = sink.accepted
        await eventually(lambda: sink.accepted >= before + 20, woken_by=source.wait_for)
        emulator.paused = True
        await eventually(lambda: sink.accepted == emulator.readings_sent, woken_by=source.wait_for)

        assert stats["disconnects"] == 1
        assert stats["connects"] == 2
        assert stats["crc_errors"] == 2
        assert stats["frames_lost"] == 6
        await hub.recorder.flush()
        assert hub.store.count_readings() == sink.accepted == emulator.readings_sent
        streams = {row["stream"]: row["unit"] for row in hub.store.stream_overview(now=0)}
        assert streams == {"bench.temperature": "°C", "bench.humidity": "%"}
    # the unplug is told once however many reopen attempts failed, and so is the replug
    said = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "agent.sources.serial.source"]
    up, down, back = [m for level, m in said if level >= logging.INFO]
    assert up.startswith("serial board bench on ")
    assert " is up (board emu-0001, firmware " in up
    assert " is down: " in down
    assert " is back (board emu-0001, firmware " in back


async def test_batched_readings_keep_every_value(hub: Hub, tmp_path: Path) -> None:
    async with board(tmp_path, rate=200.0, batch=8) as emulator:
        source = source_for(emulator)
        sink = hub.start(source)
        await eventually(lambda: emulator.readings_sent >= 160, woken_by=source.wait_for)
        emulator.paused = True
        await eventually(lambda: sink.accepted == emulator.readings_sent, woken_by=source.wait_for)
        await hub.recorder.flush()
        assert hub.store.count_readings() == emulator.readings_sent


async def test_commands_are_acknowledged_and_retried(hub: Hub, tmp_path: Path) -> None:
    async with board(tmp_path, rate=20.0) as emulator:
        source = source_for(emulator, command_timeout="200ms", command_retries=2)
        hub.start(source)
        await asyncio.wait_for(source.connected.wait(), 10)
        ack = await source.send_command("toggle")
        assert (ack.status, ack.detail, emulator.pin) == (0, "on", True)

        emulator.ignore_commands(1)
        ack = await source.send_command("set", 0)
        assert emulator.pin is False
        assert source.stats["command_retries"] == 1
        assert len(emulator.commands) == 2  # the retry was answered, not done twice

        with pytest.raises(BoardCommandError, match="unknown command 'explode'"):
            await source.send_command("explode")
        emulator.ignore_commands(3)
        with pytest.raises(BoardCommandError, match="did not acknowledge 'toggle' after 3 tries"):
            await source.send_command("toggle")
        assert source.stats["command_failures"] == 2


async def test_unknown_protocol_version_is_refused_with_error_reply(hub: Hub, tmp_path: Path) -> None:
    async with board(tmp_path, protocol=7) as emulator:
        source = source_for(emulator)
        sink = hub.start(source)
        await eventually(lambda: bool(emulator.errors), woken_by=emulator.wait_for)
        assert emulator.errors[0] == Error(
            1, "protocol 7 is not supported; this host speaks 1", 1
        )  # ref: the HELLO that answered our request
        assert source.stats["version_refused"] >= 1
        assert not source.connected.is_set()
        assert sink.accepted == 0


async def test_handshake_timeout_when_board_speaks_text(hub: Hub, tmp_path: Path) -> None:
    async with board(tmp_path, text=True) as emulator:
        source = source_for(emulator, handshake_timeout="300ms")
        sink = hub.start(source)
        await eventually(lambda: source.stats["handshake_timeouts"] >= 2, woken_by=source.wait_for)
        assert sink.accepted == 0


async def test_text_mode_board(hub: Hub, tmp_path: Path) -> None:
    async with board(tmp_path, text=True, rate=50.0) as emulator:
        source = source_for(emulator, mode="text")
        sink = hub.start(source)
        await eventually(lambda: sink.accepted >= 20, woken_by=source.wait_for)
        emulator.inject_garbage(b"\xff\xfe not a line\n")
        await eventually(lambda: source.stats["text_errors"] >= 1, woken_by=source.wait_for)
        with pytest.raises(BoardCommandError, match="text mode"):
            await source.send_command("toggle")
        await hub.recorder.flush()
        streams = {row["stream"]: row["unit"] for row in hub.store.stream_overview(now=0)}
        assert streams == {"bench.temperature": "°C", "bench.humidity": "%"}


async def test_missing_port_retries_quietly_until_it_appears(hub: Hub, tmp_path: Path) -> None:
    emulator = board(tmp_path, rate=50.0)
    source = source_for(emulator)
    sink = hub.start(source)
    await asyncio.sleep(0)  # let the source fail its first open
    async with emulator:
        await asyncio.wait_for(source.connected.wait(), 10)
        await eventually(lambda: sink.accepted >= 5, woken_by=source.wait_for)


async def test_wrong_board_on_the_port_is_refused(
    hub: Hub, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with board(tmp_path, rate=50.0) as emulator:
        source = source_for(emulator, board_id="kitchen-uno")
        sink = hub.start(source)
        await eventually(lambda: source.stats["connects"] >= 2, woken_by=source.wait_for)
        assert not source.connected.is_set()
        assert sink.accepted == 0
    refusals = [r for r in caplog.records if "has board 'emu-0001', expected 'kitchen-uno'" in r.getMessage()]
    assert len(refusals) == 1  # logged once, not at every retry
