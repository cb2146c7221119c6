"""Stopping the real-time service: nothing it started outlives the hub, and no moment of a stop hangs it."""

from __future__ import annotations

import asyncio
import json
import random
import time
from pathlib import Path

import pytest

from agent.aio import cancel_and_wait
from agent.config.schema import LocalMqttConfig
from agent.local.broker import LocalBroker
from agent.local.discovery import StreamEntity
from agent.local.homeassistant import HomeAssistantBridge
from agent.readings import Reading
from tests.rules.conftest import FakeBoard, hub_config, running, watching
from tests.testbed.wait import eventually

BASE = "hearth/test-hub"


class SilentBoard(FakeBoard):
    """A board that never answers: every command waits until it is given up."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.given_up = 0

    async def send_command(self, name: str, arg: object = None) -> None:
        self.attempts += 1
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.given_up += 1
            raise


async def test_a_switch_command_still_waiting_for_its_board_ends_with_the_hub(
    tmp_path: Path, mosquitto: int, known: dict[str, set[str]]
) -> None:
    known["boards"].add("desk")
    config = hub_config(
        tmp_path / "data",
        local_mqtt={
            "host": "127.0.0.1",
            "port": mosquitto,
            "discovery_every": "200ms",
            "switches": [{"name": "led", "board": "desk", "command": "led"}],
        },
    )
    board = SilentBoard("desk")
    switch_config = "homeassistant/switch/test-hub/desk_led/config"
    async with watching(mosquitto, "homeassistant/#", f"{BASE}/switch/#") as ha:
        async with running(config, board):
            await eventually(lambda: switch_config in ha.last, "the switch's discovery config")
            entity = json.loads(ha.last[switch_config])
            await ha.client.publish(entity["command_topic"], entity["payload_on"])
            await eventually(lambda: board.attempts, "the command to reach the board")
        # The hub has stopped: the command it was waiting on is given up, not left running.
        assert board.given_up == 1
        assert not [t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("ha:")]


ENTITIES = [StreamEntity(f"bench.t{i}", "bench", "serial", "temperature", "°C", "sensor") for i in range(4)]


async def _stop_at_a_random_moment(port: int, rng: random.Random) -> list[str]:
    """Run the broker client and Home Assistant bridge publishing state, stop them; return what hangs."""
    config = LocalMqttConfig(host="127.0.0.1", port=port, state_interval="5ms", discovery_every="200ms")
    broker = LocalBroker(config, "test-hub")

    async def load_streams() -> list[StreamEntity]:
        return list(ENTITIES)

    bridge = HomeAssistantBridge(broker, config, load_streams)
    tasks = [
        asyncio.create_task(broker.run(), name="local-mqtt"),
        asyncio.create_task(bridge.run(), name="home-assistant"),
    ]

    async def feed() -> None:
        while True:
            bridge.on_readings([Reading(e.stream, time.time(), 21.5, None) for e in ENTITIES])
            await asyncio.sleep(0.002)

    feeder = asyncio.create_task(feed())
    try:
        await asyncio.wait_for(broker.connected.wait(), 10)
        await asyncio.sleep(rng.uniform(0.0, 0.1))
        left = await cancel_and_wait(tasks, 5.0)
        return [t.get_name() for t in left]
    finally:
        feeder.cancel()


async def _soak(port: int, stops: int) -> None:
    seed = random.randrange(1 << 32)
    print(f"seed {seed}")
    rng = random.Random(seed)
    for stop in range(stops):
        # A stop that lands as a publish is acknowledged used to be lost by asyncio.wait_for (3.11).
        hanging = await _stop_at_a_random_moment(port, rng)
        assert not hanging, f"stop {stop} (seed {seed}): {hanging} never ended"


async def test_the_broker_and_home_assistant_stop_at_any_moment(mosquitto: int) -> None:
    await _soak(mosquitto, 25)


@pytest.mark.slow
async def test_the_broker_and_home_assistant_stop_at_any_moment_many_times(mosquitto: int) -> None:
    await _soak(mosquitto, 500)
