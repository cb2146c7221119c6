"""The dispatcher between recorder and actions, with a fake publisher and board behind their Protocols."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest

from agent.config.schema import RuleConfig, Scalar
from agent.errors import BoardCommandError
from agent.readings import Reading
from agent.rules.dispatch import RuleDispatcher
from agent.rules.engine import RuleEngine
from agent.rules.replay import read_csv
from agent.sources.commander import SourceBoards
from tests.rules.conftest import FakeBoard
from tests.testbed.wait import eventually


class Publisher:
    def __init__(self, *, up: bool = True) -> None:
        self.up = up
        self.sent: list[tuple[str, str]] = []

    async def publish(self, topic: str, payload: str, *, qos: int = 0, retain: bool = False) -> bool:
        del qos, retain
        if self.up:
            self.sent.append((topic, payload))
        return self.up


def rules(*actions: dict[str, Any], when: dict[str, Any] | None = None) -> RuleEngine:
    config = msgspec.convert(
        {
            "name": "hot",
            "when": when or {"stream": "room.temperature", "above": 25},
            "actions": list(actions),
        },
        RuleConfig,
    )
    return RuleEngine([config])


async def run_while(dispatcher: RuleDispatcher) -> asyncio.Task[None]:
    return asyncio.create_task(dispatcher.run(), name="dispatcher")


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_publish_renders_the_template_and_counts_a_down_broker() -> None:
    publisher = Publisher()
    engine = rules({"kind": "publish", "topic": "home/{stream}", "payload": "{rule}: {value} {label}"})
    dispatcher = RuleDispatcher(engine, publisher=publisher)
    task = await run_while(dispatcher)
    try:
        dispatcher.on_readings([Reading("room.temperature", time.time(), 26.5)])
        await eventually(lambda: publisher.sent, "the publish")
        assert publisher.sent == [("home/room.temperature", "hot: 26.5 ")]
        publisher.up = False
        dispatcher.on_readings([Reading("room.temperature", time.time(), 20.0)])
        dispatcher.on_readings([Reading("room.temperature", time.time(), 27.0)])
        await eventually(lambda: dispatcher.failed == 1, "the failed publish to be counted")
        assert dispatcher.stats() == {"fired": 2, "done": 1, "failed": 1, "dropped": 0}
    finally:
        await stop(task)


async def test_board_commands_are_retried_until_acked_and_given_up_after_attempts() -> None:
    board = FakeBoard("desk", nacks=1)
    engine = rules({"kind": "board", "board": "desk", "command": "fan", "arg": 2, "attempts": 2})
    dispatcher = RuleDispatcher(engine, commander=SourceBoards([board]))
    task = await run_while(dispatcher)
    try:
        dispatcher.on_readings([Reading("room.temperature", time.time(), 26.0)])
        await eventually(lambda: board.received, "the command after one NACK")
        assert board.received == [("fan", 2)]
        board.nacks = 5
        dispatcher.on_readings([Reading("room.temperature", time.time(), 20.0)])
        dispatcher.on_readings([Reading("room.temperature", time.time(), 26.0)])
        await eventually(lambda: dispatcher.failed == 1, "giving up after two NACKs")
        assert board.attempts == 4
    finally:
        await stop(task)


async def test_an_unknown_board_at_run_time_is_an_error_not_a_crash() -> None:
    with pytest.raises(BoardCommandError, match="no board named 'attic'"):
        await SourceBoards([]).send_command("attic", "led")


class FakeBleHost:
    """A source carrying several boards, as the BLE source carries its Nordic UART devices."""

    def __init__(self, name: str, boards: list[FakeBoard]) -> None:
        self.name = name
        self.boards = {b.name: b for b in boards}

    def board_names(self) -> list[str]:
        return list(self.boards)

    async def send_board_command(self, board: str, name: str, arg: Scalar | None = None) -> None:
        await self.boards[board].send_command(name, arg)


async def test_boards_behind_a_ble_source_are_found_and_a_replaced_source_is_seen() -> None:
    greenhouse = FakeBoard("greenhouse")
    sources: list[object] = [FakeBoard("desk"), FakeBleHost("ble", [greenhouse])]
    boards = SourceBoards(lambda: sources)
    await boards.send_command("greenhouse", "set", 1)
    assert greenhouse.received == [("set", 1)]
    replaced = FakeBoard("greenhouse", nacks=1)
    sources[1] = FakeBleHost("ble", [replaced])  # the BLE source was rebuilt by a reload
    with pytest.raises(BoardCommandError, match="NACKed set"):
        await boards.send_command("greenhouse", "set", 0)
    assert replaced.attempts == 1
    with pytest.raises(BoardCommandError, match="no board named 'ble'"):
        await boards.send_command("ble", "set", 0)  # a source carrying boards is not one


async def test_a_for_rule_fires_from_the_clock_without_another_reading() -> None:
    seen: list[str] = []
    engine = rules(
        {"kind": "log", "message": "hot for a while"},
        when={"stream": "room.temperature", "above": 25, "for": "200ms"},
    )
    dispatcher = RuleDispatcher(engine)
    dispatcher.on_dispatch.append(lambda intent: seen.append(intent.rule))
    task = await run_while(dispatcher)
    try:
        dispatcher.on_readings([Reading("room.temperature", time.time(), 26.0)])
        await eventually(lambda: seen, "the rule to fire when its 200 ms are up")
        assert seen == ["hot"]
    finally:
        await stop(task)


def test_replay_csv_reads_local_times_labels_and_unix_seconds(tmp_path: Path) -> None:
    path = tmp_path / "day.csv"
    path.write_text(
        "ts,stream,value,label\n"
        "2026-07-01T08:00:00,context.appliance,0.9,kettle\n"
        "1782892800.5,kitchen_plug.power,1950\n"
        "# a comment\n"
        "\n"
    )
    readings = read_csv(path, ZoneInfo("Europe/Berlin"))
    assert readings == [
        Reading("context.appliance", 1782885600.0, 0.9, "kettle"),  # 08:00 CEST = 06:00 UTC
        Reading("kitchen_plug.power", 1782892800.5, 1950.0, None),
    ]
