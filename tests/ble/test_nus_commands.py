"""Commands to a framed Nordic UART board through bleak's real BlueZ backend and a fake bluetoothd.

The board side plays the reference firmware (tests/ble/nus_board.py): it ACKs each COMMAND by seq
and answers a repeat of the last seq without running it again. The hub waits for the ACK and resends
the same frame on a timeout, exactly as over serial.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agent.config import config_from_mapping
from agent.daemon import Agent
from agent.errors import BoardCommandError
from agent.rules.dispatch import RuleDispatcher
from agent.sources.ble import BleSource
from firmware_bridge import Ack, Command, Readings, Sensor
from tests.ble.bluez import FakeBluez, missing_tools
from tests.ble.nus_board import NusBoard
from tests.testbed.wait import eventually

pytestmark = pytest.mark.skipif(missing_tools() is not None, reason=str(missing_tools()))

BOARD = "E4:5F:01:AA:BB:C0"
SENSORS = (Sensor("temperature", "°C"),)


@contextlib.asynccontextmanager
async def hub_with_board(
    bluez: FakeBluez, data_dir: Path, command_timeout: str = "5s", **sections: Any
) -> AsyncIterator[tuple[Agent, BleSource, NusBoard]]:
    """A running agent whose BLE source has the NUS board ``greenhouse``, connected and identified.

    Only the tests of a lost frame shorten ``command_timeout``: elsewhere no resend may happen,
    however slow this machine is.
    """
    board = NusBoard(bluez, BOARD, SENSORS, "nrf52-greenhouse")
    await board.add()
    gatt = {
        "name": "greenhouse",
        "address": BOARD,
        "services": ["nus"],
        "command_timeout": command_timeout,
        "command_retries": 2,
    }
    config = config_from_mapping(
        {
            "hub": {"id": "test-hub", "data_dir": str(data_dir)},
            "store": {"flush_interval": "50ms"},
            "sources": [{"kind": "ble", "gatt": [gatt]}],
            **sections,
        },
        source="test",
    )
    agent = Agent(config, health_every=0.2)
    (source,) = [r.source for r in agent.runners]
    assert isinstance(source, BleSource)
    board_task = asyncio.create_task(board.run())
    agent_task = asyncio.create_task(agent.run())
    try:

        def identified() -> bool:
            runner = source.gatt_runner("greenhouse")
            nus = runner.nus if runner is not None else None
            return nus is not None and nus.link.hello is not None

        await eventually(identified, within=30)
        yield agent, source, board
    finally:
        agent.stop()
        await agent_task
        board_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await board_task


async def test_a_command_returns_the_boards_ack(bluez: FakeBluez, tmp_path: Path) -> None:
    async with hub_with_board(bluez, tmp_path / "data") as (_agent, source, board):
        ack = await source.send_board_command("greenhouse", "set", 1)
        assert (ack.status, ack.detail) == (0, "on")
        assert board.pin is True
        ((seq, command),) = board.commands()
        assert command == Command("set", 1)
        assert ack.seq == seq
        assert source.stats["greenhouse.commands_sent"] == 1
        assert source.stats["greenhouse.command_retries"] == 0


async def test_a_lost_write_is_resent_with_the_same_seq_and_run_once(
    bluez: FakeBluez, tmp_path: Path
) -> None:
    async with hub_with_board(bluez, tmp_path / "data", "1s") as (_agent, source, board):
        board.lose_commands = 1
        ack = await source.send_board_command("greenhouse", "set", 1)
        (lost_seq, lost), (seq, resent) = board.commands()
        assert (lost_seq, lost) == (seq, resent) == (ack.seq, Command("set", 1))
        assert board.ran == [Command("set", 1)]
        assert board.acks == [ack]
        assert source.stats["greenhouse.command_retries"] == 1
        assert source.stats["greenhouse.command_failures"] == 0

        # The board ran the command but its ACK was lost: the resend is answered, not run again.
        board.lose_acks = 1
        ack = await source.send_board_command("greenhouse", "set", 0)
        assert (ack.status, ack.detail) == (0, "repeat")
        assert board.ran == [Command("set", 1), Command("set", 0)]
        assert board.pin is False
        assert source.stats["greenhouse.command_retries"] == 2


async def test_a_board_that_never_answers_gives_the_timeout_error(bluez: FakeBluez, tmp_path: Path) -> None:
    async with hub_with_board(bluez, tmp_path / "data", "300ms") as (_agent, source, board):
        board.lose_commands = 3
        with pytest.raises(BoardCommandError, match="did not acknowledge 'set' after 3 tries"):
            await source.send_board_command("greenhouse", "set", 1)
        seqs = [seq for seq, _ in board.commands()]
        assert len(seqs) == 3
        assert len(set(seqs)) == 1
        assert board.ran == []
        assert source.stats["greenhouse.command_retries"] == 2
        assert source.stats["greenhouse.command_timeouts"] == 1
        assert source.stats["greenhouse.command_failures"] == 1


async def test_a_nack_gives_the_boards_error(bluez: FakeBluez, tmp_path: Path) -> None:
    async with hub_with_board(bluez, tmp_path / "data") as (_agent, source, board):
        refused = r"refused 'explode': unknown command 'explode' \(status 2\)"
        with pytest.raises(BoardCommandError, match=refused):
            await source.send_board_command("greenhouse", "explode")
        assert board.acks == [Ack(board.commands()[0][0], 2, "unknown command 'explode'")]
        assert source.stats["greenhouse.command_failures"] == 1
        assert source.stats["greenhouse.command_retries"] == 0
        with pytest.raises(BoardCommandError, match="no GATT device named 'attic'"):
            await source.send_board_command("attic", "set", 1)


async def test_rules_command_a_ble_board_as_they_command_a_serial_one(
    bluez: FakeBluez, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rules = [
        {
            "name": "too-warm",
            "when": {"stream": "greenhouse.temperature", "above": 25},
            "actions": [{"kind": "board", "board": "greenhouse", "command": "set", "arg": 1}],
        },
        {
            "name": "frost",
            "when": {"stream": "greenhouse.temperature", "below": 0},
            "actions": [{"kind": "board", "board": "greenhouse", "command": "heat", "attempts": 2}],
        },
    ]
    async with hub_with_board(bluez, tmp_path / "data", rules=rules) as (agent, _source, board):
        dispatcher = agent.services["rules"].__self__  # type: ignore[attr-defined]
        assert isinstance(dispatcher, RuleDispatcher)
        await board.send(Readings(((0, 26.0, 0),)))
        await eventually(lambda: board.pin, within=20, woken_by=board.wait_for)
        await eventually(lambda: dispatcher.done == 1, within=20)

        await board.send(Readings(((0, -1.0, 0),)))
        await eventually(lambda: dispatcher.failed == 1, within=20)
        # each attempt is one COMMAND the board refused; the rule gave up after its two attempts
        assert [c.name for c in board.ran] == ["set", "heat", "heat"]
        assert dispatcher.stats() == {"fired": 2, "done": 1, "failed": 1, "dropped": 0}
    errors = [r.getMessage() for r in caplog.records if r.name == "agent.rules.dispatch"]
    assert errors == [
        "rule frost: board greenhouse did not ACK heat after 2 attempts: "
        "board greenhouse refused 'heat': unknown command 'heat' (status 2)"
    ]
