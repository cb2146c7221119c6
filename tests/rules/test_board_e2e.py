"""End to end with the board emulator on a real pty, the real serial source and a real Mosquitto.

A board's reading crosses a rule's threshold → the hub sends the board a COMMAND → the board ACKs
→ Home Assistant sees the switch ON; and a command from Home Assistant reaches the board the same way.
"""

from __future__ import annotations

import json
from pathlib import Path

from firmware_bridge import Sensor
from firmware_bridge.emulator import BoardEmulator
from tests.rules.conftest import hub_config, running, watching
from tests.testbed.wait import eventually

BASE = "hearth/test-hub"
SENSORS = (Sensor("temperature", "°C"), Sensor("humidity", "%"))
# Warming from 20 °C to 29.75 °C in steps of 0.25 over 40 readings.
ROWS = [[20.0 + i / 4, 40.0 + i] for i in range(40)]


async def test_a_rule_drives_a_real_board_and_home_assistant_sees_the_switch(
    tmp_path: Path, mosquitto: int
) -> None:
    link = tmp_path / "by-id-bench"
    config = hub_config(
        tmp_path / "data",
        sources=[{"kind": "serial", "name": "bench", "port": str(link), "command_timeout": "500ms"}],
        local_mqtt={
            "host": "127.0.0.1",
            "port": mosquitto,
            "state_interval": "50ms",
            "discovery_every": "200ms",
            "switches": [{"name": "fan", "board": "bench", "command": "set"}],
        },
        rules=[
            {
                "name": "too-warm",
                "when": {"stream": "bench.temperature", "above": 25, "hysteresis": 1},
                "actions": [{"kind": "board", "board": "bench", "command": "set", "arg": 1}],
            }
        ],
    )
    switch_config = "homeassistant/switch/test-hub/bench_fan/config"
    async with (
        BoardEmulator(SENSORS, ROWS, link=link, rate=40.0) as board,
        watching(mosquitto, "homeassistant/#", f"{BASE}/#") as ha,
        running(config),  # the agent builds the real serial source from the config
    ):
        await eventually(lambda: board.pin, "the rule's COMMAND to switch the board's pin on")
        assert [(c.name, c.arg) for c in board.commands] == [("set", 1)]
        await eventually(lambda: ha.last.get(f"{BASE}/switch/fan/state") == b"ON", "the switch ON in HA")
        await eventually(lambda: switch_config in ha.last, "the switch's discovery config")
        fan = json.loads(ha.last[switch_config])
        # The board's own sensors are announced too, once the board has said what it offers.
        temperature = "homeassistant/sensor/test-hub/bench_temperature/config"
        await eventually(lambda: temperature in ha.last, "the board's temperature sensor")
        assert json.loads(ha.last[temperature])["device_class"] == "temperature"

        await ha.client.publish(fan["command_topic"], fan["payload_off"])
        await eventually(lambda: not board.pin, "Home Assistant's OFF to reach the board")
        await eventually(lambda: ha.last.get(fan["state_topic"]) == b"OFF", "the switch OFF in HA")
        assert [(c.name, c.arg) for c in board.commands][-1] == ("set", 0)
