"""The BLE source through an in-process fake scanner: adoption, dedup, decoding, and every fault."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from bleak.exc import BleakDBusError, BleakError

from agent.pipeline.recorder import Recorder
from agent.pipeline.sink import Sink
from agent.sources.ble.adoption import Adoption, AdoptionStore
from agent.sources.ble.advert import Advert
from agent.sources.ble.source import BleSource
from agent.store.readings import open_readings
from tests.ble import payloads as p
from tests.ble.conftest import FakeClock, FakeResetter, FakeScanner, drain, make_sink
from tests.testbed.wait import eventually

BEDROOM = Adoption(p.BTHOME_ADDRESS, "bedroom")
NEIGHBOUR = "DE:AD:BE:EF:00:01"


@pytest.fixture
async def running(
    scanner: FakeScanner, clock: FakeClock, resetter: FakeResetter
) -> AsyncIterator[tuple[BleSource, Sink]]:
    source = BleSource(
        "ble",
        scanner,
        clock=clock,
        resetter=resetter,
        adoptions=[BEDROOM, Adoption(p.RUUVI_ADDRESS, "balcony")],
        silence_timeout=90.0,
        reset_after=3,
    )
    sink = make_sink()
    task = asyncio.create_task(source.run(sink))
    await eventually(scanner.started.is_set, "the scanner to start")
    yield source, sink
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_adopted_device_becomes_readings_with_units(
    running: tuple[BleSource, Sink], scanner: FakeScanner
) -> None:
    _source, sink = running
    scanner.advertise(p.bthome(p.BTHOME_V2_TEMP_HUM))
    readings = {r.stream: r.value for r in drain(sink)}
    assert readings == {"bedroom.temperature": 25.06, "bedroom.humidity": 50.55}
    declared = {info.name: info.unit for _kind, info in sink.take_declarations()}
    assert declared == {"bedroom.temperature": "°C", "bedroom.humidity": "%"}


async def test_unadopted_device_leaves_no_trace(
    running: tuple[BleSource, Sink], scanner: FakeScanner, caplog: pytest.LogCaptureFixture
) -> None:
    source, sink = running
    caplog.set_level(logging.DEBUG)
    for _ in range(3):
        scanner.advertise(p.bthome(p.BTHOME_V2_TEMP_HUM, address=NEIGHBOUR))
    assert len(sink) == 0
    assert sink.take_declarations() == []
    assert source.unadopted == 3
    assert len(source.dedup) == 0, "unadopted addresses are not even remembered"
    assert NEIGHBOUR not in caplog.text


async def test_repeated_adverts_are_dropped_before_decoding(
    running: tuple[BleSource, Sink], scanner: FakeScanner
) -> None:
    source, sink = running
    for _ in range(100):
        scanner.advertise(p.bthome(p.BTHOME_V2_TEMP_HUM))
    scanner.advertise(p.bthome_temp(2507))
    assert source.repeats == 99
    assert source.decoded == 2
    assert [r.value for r in drain(sink) if r.stream == "bedroom.temperature"] == [25.06, 25.07]


async def test_malformed_adverts_and_wrong_bindkeys_are_counted(
    scanner: FakeScanner, clock: FakeClock, resetter: FakeResetter, caplog: pytest.LogCaptureFixture
) -> None:
    secret = p.WRONG_BINDKEY
    source = BleSource(
        "ble",
        scanner,
        clock=clock,
        resetter=resetter,
        adoptions=[
            Adoption(p.BTHOME_ENCRYPTED_ADDRESS, "shelly", bytes.fromhex(secret)),
            Adoption(p.RUUVI_ADDRESS, "balcony"),
        ],
    )
    sink = make_sink()
    task = asyncio.create_task(source.run(sink))
    await eventually(scanner.started.is_set, "the scanner to start")
    caplog.set_level(logging.DEBUG)
    scanner.advertise(p.bthome(p.BTHOME_ENCRYPTED, p.BTHOME_ENCRYPTED_ADDRESS, "SBHT-003C"))
    scanner.advertise(p.ruuvi(b"\x05\x01"))
    scanner.advertise(p.ruuvi(b"\x05\x02\x03"))
    scanner.advertise(p.ruuvi())  # a good one after the bad ones
    assert source.decrypt_failures == 1
    assert source.malformed == 2
    assert {r.stream for r in drain(sink)} >= {"balcony.temperature"}
    assert "shelly" in caplog.text  # the failure is logged once, by name
    assert secret not in caplog.text
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sink.stats["malformed"] == 2
    assert sink.stats["decrypt_failures"] == 1


async def test_ninety_seconds_of_silence_restarts_the_scanner(
    running: tuple[BleSource, Sink], scanner: FakeScanner, clock: FakeClock
) -> None:
    source, sink = running
    scanner.advertise(p.bthome(p.BTHOME_V2_TEMP_HUM))
    await clock.advance(60)
    assert scanner.starts == 1, "60 s of silence is not yet a wedge"
    await clock.advance(40)
    await clock.advance_until(lambda: scanner.running)  # after the backoff
    assert scanner.starts == 2
    assert sink.stats["silence_restarts"] >= 1
    scanner.advertise(p.bthome_temp(2600))
    assert any(r.value == 26.0 for r in drain(sink)), "the restarted scanner delivers"
    assert source.scanning.is_set()


async def test_quiet_without_adoptions_is_not_a_wedge(
    scanner: FakeScanner, clock: FakeClock, resetter: FakeResetter
) -> None:
    source = BleSource("ble", scanner, clock=clock, resetter=resetter)
    task = asyncio.create_task(source.run(make_sink()))
    await eventually(scanner.started.is_set, "the scanner to start")
    await clock.advance(600, step=10)
    assert scanner.starts == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.parametrize(
    ("error", "counter"),
    [
        pytest.param(
            BleakDBusError("org.bluez.Error.InProgress", ["Operation already in progress"]), "in_progress"
        ),
        pytest.param(BleakDBusError("org.bluez.Error.Failed", ["Input/output error"]), "dbus_error"),
        pytest.param(BleakError("something odd in BlueZ"), "scanner_error"),
        pytest.param(EOFError("D-Bus connection closed"), "scanner_error"),
    ],
)
async def test_start_failures_are_counted_and_retried(
    running: tuple[BleSource, Sink],
    scanner: FakeScanner,
    clock: FakeClock,
    error: BaseException,
    counter: str,
) -> None:
    source, sink = running
    scanner.start_errors = [error]
    scanner.die(error)  # the running scanner dies, and the first restart fails too
    await eventually(lambda: not scanner.running)
    await clock.advance_until(lambda: scanner.running)
    assert sink.stats[counter] >= 2
    assert sink.stats["scanner_restarts"] >= 2
    scanner.advertise(p.bthome(p.BTHOME_V2_TEMP_HUM))
    assert len(drain(sink)) == 2
    assert source.scanning.is_set()


async def test_repeated_failures_reset_the_adapter(
    running: tuple[BleSource, Sink], scanner: FakeScanner, clock: FakeClock, resetter: FakeResetter
) -> None:
    _source, sink = running
    stuck = BleakDBusError("org.bluez.Error.InProgress", ["Operation already in progress"])
    scanner.start_errors = [stuck, stuck, stuck, stuck]
    scanner.die(stuck)
    await eventually(lambda: not scanner.running)
    await clock.advance_until(lambda: scanner.running)
    assert resetter.resets, "three failures in a row reset the adapter"
    assert set(resetter.resets) == {"hci0"}
    assert sink.stats["adapter_resets"] == len(resetter.resets)


async def test_adapter_vanishing_and_returning(
    running: tuple[BleSource, Sink], scanner: FakeScanner, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agent.sources.ble.source")
    source, sink = running
    scanner.adapter_present = False
    scanner.die(BleakError("adapter hci0 was removed"))
    await eventually(lambda: not scanner.running)
    await clock.advance(300, step=5)
    assert not scanner.running
    assert sink.stats["no_adapter"] >= 2
    scanner.adapter_present = True
    await clock.advance_until(lambda: scanner.running)
    scanner.advertise(p.ruuvi())
    assert any(r.stream == "balcony.temperature" for r in drain(sink))
    assert source.scanning.is_set()
    await clock.advance(source.check_every)
    # the outage is told once however many restarts failed, and so is the recovery
    said = [r.getMessage() for r in caplog.records if r.name == "agent.sources.ble.source"]
    assert [m for m in said if "is down" in m] == [
        "BLE scanner on hci0 is down: no_adapter: adapter hci0 was removed; retrying with backoff"
    ]
    (back,) = [m for m in said if "is back" in m]
    assert back.startswith("BLE scanner on hci0 is back (fake scanning) after ")


async def test_flood_of_rotating_addresses_with_adopted_devices_in_it(
    running: tuple[BleSource, Sink], scanner: FakeScanner
) -> None:
    source, sink = running
    seed = random.randrange(1 << 30)
    print(f"seed={seed}")
    rng = random.Random(seed)
    for i in range(20_000):
        address = ":".join(f"{rng.randrange(256):02X}" for _ in range(6))
        scanner.advertise(Advert(address, None, -80, {0x004C: rng.randbytes(12)}, {}, []))
        if i % 1000 == 0:
            scanner.advertise(p.bthome_temp(2000 + i // 1000))
    assert source.unadopted == 20_000
    assert len(source.dedup) <= 2
    temps = [r.value for r in drain(sink) if r.stream == "bedroom.temperature"]
    assert len(temps) == 20


async def test_burst_beyond_the_queue_drops_oldest_and_counts(
    scanner: FakeScanner, clock: FakeClock, resetter: FakeResetter
) -> None:
    source = BleSource("ble", scanner, clock=clock, resetter=resetter, adoptions=[BEDROOM])
    sink = make_sink(maxsize=100)
    task = asyncio.create_task(source.run(sink))
    await eventually(scanner.started.is_set, "the scanner to start")
    for i in range(1000):  # a one-second burst of 1,000 new adverts, nobody draining
        scanner.advertise(p.bthome_temp(i))
    assert source.decoded == 1000
    assert sink.dropped == 900
    assert [r.value for r in drain(sink)][-1] == 9.99, "the newest readings are kept"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_adoption_changes_take_effect(running: tuple[BleSource, Sink], scanner: FakeScanner) -> None:
    source, sink = running
    scanner.advertise(p.xiaomi(p.XIAOMI_LYWSDCGQ))
    assert len(sink) == 0
    gone = source.set_adoptions([Adoption(p.XIAOMI_ADDRESS, "hallway")])
    assert sorted(gone) == ["balcony", "bedroom"]
    scanner.advertise(p.xiaomi(p.XIAOMI_LYWSDCGQ))
    assert {r.stream for r in drain(sink)} == {"hallway.temperature", "hallway.humidity"}
    scanner.advertise(p.bthome(p.BTHOME_V2_TEMP_HUM))
    assert len(sink) == 0


async def test_adoptions_are_read_from_the_store_and_forgetting_erases(
    scanner: FakeScanner, clock: FakeClock, resetter: FakeResetter, tmp_path: Path
) -> None:
    store = open_readings(tmp_path)
    adoptions = AdoptionStore(store.conn)
    adoptions.adopt(p.BTHOME_ADDRESS, "bedroom")
    forgotten: list[str] = []

    async def on_forget(name: str) -> None:
        forgotten.append(name)

    source = BleSource("ble", scanner, clock=clock, resetter=resetter, adoption_refresh=5.0)

    async def read() -> list[Adoption]:
        return adoptions.all()

    source.bind_store(read, on_forget)
    sink = make_sink()
    task = asyncio.create_task(source.run(sink))
    await eventually(scanner.started.is_set, "the scanner to start")
    assert source.adopted_names == ["bedroom"]
    scanner.advertise(p.bthome(p.BTHOME_V2_TEMP_HUM))
    assert len(drain(sink)) == 2

    store.forget_device("bedroom", first=AdoptionStore.remover("bedroom"))
    await clock.advance(10)  # at least one refresh period after the refresh loop's first sleep
    await eventually(lambda: forgotten == ["bedroom"])
    scanner.advertise(p.bthome_temp(2600))
    assert drain(sink) == []
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    store.close()


async def test_a_burst_of_a_thousand_adverts_reaches_the_store(
    scanner: FakeScanner, clock: FakeClock, resetter: FakeResetter, tmp_path: Path
) -> None:
    store = open_readings(tmp_path)
    recorder = Recorder(store, flush_interval=0.05)
    source = BleSource("ble", scanner, clock=clock, resetter=resetter, adoptions=[BEDROOM])
    sink = recorder.sink("ble", "ble", source.overflow)
    recording = asyncio.create_task(recorder.run())
    task = asyncio.create_task(source.run(sink))
    await eventually(scanner.started.is_set, "the scanner to start")
    for i in range(1000):  # one second's burst, delivered at once
        scanner.advertise(p.bthome(b"\x40\x02" + (i).to_bytes(2, "little") + b"\x03\xbf\x13"))
    await eventually(lambda: recorder.committed == 2000, within=20)
    assert sink.dropped == 0
    task.cancel()
    recording.cancel()
    for t in (task, recording):
        with pytest.raises(asyncio.CancelledError):
            await t
    await recorder.close()
    assert store.count_readings("bedroom.temperature") == 1000
    store.close()


async def test_discovery_keeps_unadopted_devices_in_memory_only_while_asked_and_only_unadopted(
    running: tuple[BleSource, Sink], scanner: FakeScanner, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    source, sink = running
    caplog.set_level(logging.DEBUG)
    scanner.advertise(p.bthome(p.BTHOME_V2_TEMP_HUM, address=NEIGHBOUR))
    assert source.discovery is None, "nobody looks: nothing about neighbours is kept"
    heard: list[str] = []
    source.on_discovered = lambda candidate: heard.append(candidate.address)
    table = source.discover(60.0)
    scanner.advertise(p.bthome(p.BTHOME_V2_TEMP_HUM, address=NEIGHBOUR))
    scanner.advertise(p.bthome(p.BTHOME_V2_TEMP_HUM, address=NEIGHBOUR))
    scanner.advertise(p.bthome(p.BTHOME_V2_TEMP_HUM))  # bedroom is adopted: recorded, not a candidate
    assert [(c.address, c.adverts) for c in table.ranked()] == [(NEIGHBOUR, 2)]
    assert table.ranked()[0].kind is not None
    assert heard == [NEIGHBOUR, NEIGHBOUR]
    assert len(sink) == 2, "only bedroom's two values were queued"
    source.set_adoptions([BEDROOM, Adoption(NEIGHBOUR, "neighbour")])
    assert table.ranked() == [], "an adopted device leaves the candidates"
    source.set_adoptions([BEDROOM])
    scanner.advertise(p.bthome(p.BTHOME_V2_TEMP_HUM, address=NEIGHBOUR))
    watching = [True]
    source.keep_discovering = lambda: watching[0]
    await clock.advance(120.0, step=1.0)
    assert source.discovery is table, "kept while someone watches"
    watching[0] = False
    await clock.advance_until(lambda: source.discovery is None, limit=120.0, step=1.0)
    assert NEIGHBOUR not in caplog.text
