"""BLE configuration: parsed into the source the daemon runs, mistakes named by key path."""

from __future__ import annotations

import asyncio

import pytest

from agent.config import parse_config
from agent.errors import ConfigError
from agent.sources.ble import BleSource
from agent.sources.ble.adoption import Adoption
from agent.sources.ble.scanner import BleakAdvertScanner
from agent.sources.ble.simulated import DEMO_DEVICES, ReplayScanner
from agent.sources.factory import build_source
from tests.ble.conftest import FakeClock, FakeResetter, drain, make_sink
from tests.testbed.wait import eventually

CONFIG = """
[hub]
id = "hub"
data_dir = "/tmp/never-created"

[[sources]]
kind = "ble"
adapter = "hci1"
scanning = "passive"
silence_timeout = "2m"
dedup_cap = 500
max_connections = 2

[[sources.gatt]]
name = "strap"
address = "f1:22:33:44:55:66"
services = ["heart_rate", "battery"]

[[sources.gatt]]
name = "greenhouse"
address = "E4:5F:01:AA:BB:CC"
services = ["nus"]
nus_mode = "text"

[[sources.gatt]]
name = "vent"
address = "E4:5F:01:AA:BB:CD"
services = ["nus"]
command_timeout = "250ms"
command_retries = 4
"""


def test_ble_section_builds_the_source() -> None:
    config = parse_config(CONFIG, source="hearth.toml")
    source = build_source(config.sources[0])
    assert isinstance(source, BleSource)
    assert source.overflow == "drop_oldest"
    assert isinstance(source.scanner, BleakAdvertScanner)
    assert (source.scanner.adapter, source.scanner.scanning) == ("hci1", "passive")
    assert source.silence_timeout == 120.0
    assert source.dedup.cap == 500
    assert source.max_connections == 2
    assert [(g.name, g.address, tuple(g.services)) for g in source.gatt_devices] == [
        ("strap", "F1:22:33:44:55:66", ("heart_rate", "battery")),
        ("greenhouse", "E4:5F:01:AA:BB:CC", ("nus",)),
        ("vent", "E4:5F:01:AA:BB:CD", ("nus",)),
    ]
    strap, greenhouse, vent = source.gatt_devices
    assert strap.nus_mode == "framed"  # boards speak the framed protocol unless told
    assert greenhouse.nus_mode == "text"
    assert (strap.command_timeout, strap.command_retries) == (1.0, 2)  # as a serial board's
    assert (vent.command_timeout, vent.command_retries) == (0.25, 4)
    assert source.board_names() == ["greenhouse", "vent"]


@pytest.mark.parametrize(
    ("replace", "key"),
    [
        pytest.param(('adapter = "hci1"', 'adapter = "usb0"'), "sources[0].adapter", id="adapter"),
        pytest.param(('scanning = "passive"', 'scanning = "loud"'), "sources[0].scanning", id="scanning"),
        pytest.param(
            ('address = "f1:22:33:44:55:66"', 'address = "f1:22"'), "sources[0].gatt[0].address", id="gatt"
        ),
        pytest.param(
            ('"heart_rate", "battery"', '"heart_rate", "ecg"'), "sources[0].gatt[0].services", id="svc"
        ),
        pytest.param(("max_connections = 2", "max_connections = 0"), "sources[0].max_connections", id="cap"),
        pytest.param(('nus_mode = "text"', 'nus_mode = "binary"'), "sources[0].gatt[1].nus_mode", id="nus"),
        pytest.param(
            ("command_retries = 4", "command_retries = 11"), "sources[0].gatt[2].command_retries", id="retry"
        ),
        pytest.param(
            ('command_timeout = "250ms"', 'command_timeout = "soon"'),
            "sources[0].gatt[2].command_timeout",
            id="ack",
        ),
    ],
)
def test_mistakes_name_the_key(replace: tuple[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(CONFIG.replace(*replace), source="hearth.toml")
    assert key in str(caught.value)


async def test_simulated_devices_go_through_the_real_decoders() -> None:
    replay = ReplayScanner(interval=0.01, seed=1)
    source = BleSource(
        "ble",
        replay,
        clock=FakeClock(),
        resetter=FakeResetter(),
        adoptions=[Adoption(d.address, d.suggested_name) for d in DEMO_DEVICES],
    )
    sink = make_sink()
    task = asyncio.create_task(source.run(sink))
    seen: set[str] = set()

    def heard_all() -> bool:
        seen.update(r.stream for r in drain(sink))
        return {"bedroom.temperature", "hallway.humidity", "balcony.pressure"} <= seen

    await eventually(heard_all)
    assert source.unadopted > 0, "the neighbours advertise too"
    assert source.repeats > 0, "and every advert is repeated"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await replay.stop()
