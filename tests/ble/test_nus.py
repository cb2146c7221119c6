"""The Nordic UART Service: the firmware bridge's board link over GATT, without a radio.

The board link itself (framed and text modes) is tested in ``tests/sources/test_board_link.py``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agent.errors import BoardCommandError
from agent.sources.ble.gatt import GattDevice
from agent.sources.ble.nus import NUS_RX, NUS_TX
from firmware_bridge import (
    Ack,
    Command,
    Frame,
    FrameDecoder,
    Hello,
    HelloRequest,
    Readings,
    Sensor,
    encode,
)
from firmware_bridge.messages import Message
from tests.ble.conftest import FakeClock
from tests.ble.test_gatt import FakeConnector, runner_for
from tests.testbed.golden import GOLDEN
from tests.testbed.wait import eventually


def messages(data: bytes) -> list[Message]:
    events = FrameDecoder().events(data)
    assert all(isinstance(e, Frame) for e in events)
    return [e.message for e in events if isinstance(e, Frame)]


class WritableClient:
    """Records writes to NUS RX; ``services`` reports the write size BlueZ derives from the MTU."""

    def __init__(self, write_size: int | None) -> None:
        self.writes: list[bytes] = []
        self.notify: dict[str, Any] = {}
        self.is_connected = True
        self.written = asyncio.Event()
        if write_size is not None:
            self.services = _Services(write_size)

    async def start_notify(self, char_specifier: Any, callback: Any) -> None:
        self.notify[char_specifier] = callback

    async def read_gatt_char(self, char_specifier: Any) -> bytearray:
        raise AssertionError("NUS has nothing to read")

    async def write_gatt_char(self, char_specifier: Any, data: bytes, response: bool) -> None:
        assert char_specifier == NUS_RX
        self.writes.append(bytes(data))
        self.written.set()

    async def disconnect(self) -> None:
        self.is_connected = False

    def send(self, data: bytes) -> None:
        self.notify[NUS_TX](None, bytearray(data))


class _Characteristic:
    def __init__(self, size: int) -> None:
        self.max_write_without_response_size = size


class _Services:
    def __init__(self, size: int) -> None:
        self.size = size

    def get_characteristic(self, uuid: str) -> _Characteristic | None:
        return _Characteristic(self.size) if uuid == NUS_RX else None


class WritableConnector(FakeConnector):
    def __init__(self, write_size: int | None) -> None:
        super().__init__()
        self.write_size = write_size
        self.last: WritableClient | None = None

    async def connect(self, address: str, name: str, on_disconnect: Any) -> Any:
        self.last = WritableClient(self.write_size)
        self.drops[name] = on_disconnect
        return self.last


@pytest.mark.parametrize(("write_size", "chunk"), [(None, 20), (244, 244)], ids=["default-mtu", "mtu-247"])
async def test_runner_writes_to_rx_in_mtu_chunks_and_publishes_counters(
    clock: FakeClock, write_size: int | None, chunk: int
) -> None:
    connector = WritableConnector(write_size)
    device = GattDevice("board", "11:22:33:44:55:99", ("nus",))
    runner, emitted, stats = runner_for(device, connector, clock)
    assert stats["board.frames_ok"] == 0  # the device's row shows from the start
    task = asyncio.create_task(runner.run())
    try:
        await eventually(runner.connected.is_set, "the runner to connect")
        client = connector.last
        assert client is not None
        assert messages(b"".join(client.writes)) == [HelloRequest(1)]
        hello = Hello("nrf-1", "1.0", 1, (Sensor("temperature", "°C"), Sensor("pressure", "hPa")))
        client.send(encode(hello, 0))
        client.send(encode(Readings(((0, 21.5, 0), (1, 1013.25, 0))), 1))
        assert emitted == [("board", "temperature", 21.5, "°C"), ("board", "pressure", 1013.25, "hPa")]
        assert stats["board.frames_ok"] == 2
        assert stats["board.crc_errors"] == 0

        client.writes.clear()
        client.written.clear()
        command = asyncio.create_task(runner.send_command("display", "x" * 100))
        await eventually(lambda: sum(map(len, client.writes)) >= 100)
        assert max(map(len, client.writes)) <= chunk
        assert len(client.writes) > 1 if chunk == 20 else len(client.writes) == 1
        assert messages(b"".join(client.writes)) == [Command("display", "x" * 100)]
        client.send(encode(Ack(1, 0, "shown"), 2))
        assert await command == Ack(1, 0, "shown")
        assert stats["board.commands_sent"] == 1
        assert stats["board.command_retries"] == 0
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_board_that_changes_its_sensors_mid_notification_keeps_each_value_its_quantity(
    clock: FakeClock,
) -> None:
    connector = WritableConnector(None)
    runner, emitted, _stats = runner_for(GattDevice("board", "11:22:33:44:55:9A", ("nus",)), connector, clock)
    task = asyncio.create_task(runner.run())
    try:
        await eventually(runner.connected.is_set, "the runner to connect")
        client = connector.last
        assert client is not None
        first = Hello("nrf-1", "1.0", 1, (Sensor("temperature", "°C"),))
        second = Hello("nrf-1", "1.1", 1, (Sensor("pressure", "hPa"),))
        # A board that reboots into new firmware between two frames of one notification.
        client.send(
            encode(first, 0)
            + encode(Readings(((0, 21.5, 0),)), 1)
            + encode(second, 0)
            + encode(Readings(((0, 1013.25, 0),)), 1)
        )
        assert emitted == [("board", "temperature", 21.5, "°C"), ("board", "pressure", 1013.25, "hPa")]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_framed_board_that_never_says_hello_is_reconnected(clock: FakeClock) -> None:
    connector = WritableConnector(None)
    device = GattDevice("board", "11:22:33:44:55:98", ("nus",), handshake_timeout=5.0)
    runner, emitted, stats = runner_for(device, connector, clock)
    task = asyncio.create_task(runner.run())
    try:
        await eventually(runner.connected.is_set, "the runner to connect")
        first = connector.last
        assert first is not None
        first.send(GOLDEN["reading_half_float"])  # readings, but no HELLO: nobody's values
        await clock.advance_until(lambda: stats.get("gatt_connects", 0) == 2)
        assert stats["nus_handshake_timeouts"] == 1
        assert stats["gatt_drops"] == 1
        assert stats["board.unidentified"] == 1
        second = connector.last
        assert second is not first
        assert second is not None
        await eventually(lambda: bool(second.writes))
        assert messages(b"".join(second.writes)) == [HelloRequest(1)]  # asked again on the new link
        second.send(GOLDEN["hello"] + encode(Ack(0), 1))
        await clock.advance(30, step=5)
        assert stats["gatt_drops"] == 1  # identified: the handshake timer is off
        assert stats["board.commands_acked"] == 1
        assert emitted == []
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


class FramedLink:
    """A framed NUS board runner on a fake link; ``frames()`` decodes what the host wrote to RX."""

    def __init__(self, clock: FakeClock, **device: Any) -> None:
        self.connector = WritableConnector(None)
        self.device = GattDevice("board", "11:22:33:44:55:97", ("nus",), **device)
        self.runner, _emitted, self.stats = runner_for(self.device, self.connector, clock)
        self.task: asyncio.Task[None] | None = None

    @property
    def client(self) -> WritableClient:
        assert self.connector.last is not None
        return self.connector.last

    def frames(self) -> list[tuple[int, Message]]:
        events = FrameDecoder().events(b"".join(self.client.writes))
        return [(e.seq, e.message) for e in events if isinstance(e, Frame)]

    def commands(self) -> list[tuple[int, Message]]:
        return [(seq, m) for seq, m in self.frames() if isinstance(m, Command)]

    async def __aenter__(self) -> FramedLink:
        self.task = asyncio.create_task(self.runner.run())
        await eventually(self.runner.connected.is_set, "the runner to connect")
        self.client.send(GOLDEN["hello"])
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task


async def test_an_unanswered_command_is_resent_with_its_seq_until_the_ack(clock: FakeClock) -> None:
    async with FramedLink(clock, command_timeout=1.0, command_retries=2) as link:
        command = asyncio.create_task(link.runner.send_command("set", 1))
        await eventually(lambda: len(link.commands()) == 1)
        await clock.advance_until(lambda: len(link.commands()) == 2, step=0.5)
        (seq, first), (again, second) = link.commands()
        assert (again, second) == (seq, first) == (1, Command("set", 1))
        link.client.send(encode(Ack(seq, 0, "on"), 1))
        assert await command == Ack(seq, 0, "on")
        assert link.stats["board.command_retries"] == 1
        assert link.stats["board.command_timeouts"] == 0
        assert link.stats["board.command_failures"] == 0


async def test_no_ack_after_every_try_and_a_refusal_raise_board_command_errors(clock: FakeClock) -> None:
    async with FramedLink(clock, command_timeout=1.0, command_retries=1) as link:
        command = asyncio.create_task(link.runner.send_command("toggle"))
        await clock.advance_until(command.done, step=0.5)
        with pytest.raises(BoardCommandError, match="did not acknowledge 'toggle' after 2 tries"):
            await command
        assert [seq for seq, _ in link.commands()] == [1, 1]
        link.client.send(encode(Ack(1, 0, "on"), 1))  # an ACK after the host gave up changes nothing

        command = asyncio.create_task(link.runner.send_command("explode"))
        await eventually(lambda: len(link.commands()) == 3)
        link.client.send(encode(Ack(2, 2, "unknown command 'explode'"), 2))
        with pytest.raises(BoardCommandError, match=r"refused 'explode': unknown command .* \(status 2\)"):
            await command
        assert link.stats["board.commands_sent"] == 2
        assert link.stats["board.command_timeouts"] == 1
        assert link.stats["board.command_failures"] == 2
        assert link.stats["board.commands_refused"] == 1


async def test_a_command_fails_at_once_when_the_link_drops_and_is_not_sent_on_the_next(
    clock: FakeClock,
) -> None:
    async with FramedLink(clock, command_timeout=30.0) as link:
        command = asyncio.create_task(link.runner.send_command("toggle"))
        await eventually(lambda: len(link.commands()) == 1)
        first = link.client
        link.connector.drops["board"]()
        with pytest.raises(BoardCommandError, match="board board was disconnected"):
            await command
        with pytest.raises(BoardCommandError, match="not connected"):
            await link.runner.send_command("toggle")
        await clock.advance_until(lambda: link.connector.last is not first)
        await eventually(lambda: bool(link.frames()))
        assert [m for _, m in link.frames()] == [HelloRequest(1)]
        assert link.stats["board.command_failures"] == 1


async def test_a_text_mode_board_takes_no_commands(clock: FakeClock) -> None:
    connector = WritableConnector(None)
    device = GattDevice("lamp", "11:22:33:44:55:96", ("nus",), nus_mode="text")
    runner, _emitted, _stats = runner_for(device, connector, clock)
    with pytest.raises(BoardCommandError, match="text mode, which takes no commands"):
        await runner.send_command("toggle")
    strap, _emitted, _stats = runner_for(GattDevice("strap", "11:22:33:44:55:95"), connector, clock)
    with pytest.raises(BoardCommandError, match="has no Nordic UART link"):
        await strap.send_command("toggle")
