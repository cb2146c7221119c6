"""Simulated BLE devices for the demo: real advert payloads replayed behind the scanner interface.

The payloads follow the byte layouts of the real devices (the known-good frames of the parser
libraries' own test suites, with the measured values varied), so they go through the same decoders
as adverts from hardware. Neighbours' devices advertise too, to show they are ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from agent.sources.ble.advert import Advert, AdvertCallback, FailureFuture
from agent.sources.ble.decoders import sig_uuid

BTHOME = sig_uuid(0xFCD2)
XIAOMI = sig_uuid(0xFE95)
RUUVI_COMPANY = 0x0499


def bthome_v2(temperature: float, humidity: float, battery: int) -> bytes:
    """An unencrypted BTHome v2 service-data payload with battery, temperature and humidity."""
    return (
        b"\x40"
        + struct.pack("<BB", 0x01, battery)
        + struct.pack("<Bh", 0x02, round(temperature * 100))
        + struct.pack("<BH", 0x03, round(humidity * 100))
    )


def xiaomi_lywsdcgq(counter: int, temperature: float, humidity: float) -> bytes:
    """A MiBeacon v2 frame of a LYWSDCGQ (58:2D:34:35:93:21) with temperature and humidity."""
    mac = bytes.fromhex("2193 3534 2d58")
    reading = struct.pack("<HBhH", 0x100D, 4, round(temperature * 10), round(humidity * 10))
    return b"P \xaa\x01" + bytes([counter & 0xFF]) + mac + reading


def ruuvi_v5(sequence: int, temperature: float, humidity: float, pressure_hpa: float) -> bytes:
    """A RuuviTag data format 5 manufacturer payload (address ...:EF:AF)."""
    frame = bytearray.fromhex("0505a060a0c89afd34028cff006376726976dead7b3fefaf")
    struct.pack_into(">hHH", frame, 1, round(temperature / 0.005), round(humidity / 0.0025), 0)
    struct.pack_into(">H", frame, 5, round(pressure_hpa * 100 - 50000))
    struct.pack_into(">H", frame, 16, sequence & 0xFFFF)
    return bytes(frame)


@dataclass(frozen=True, slots=True)
class SimulatedDevice:
    """One device the replay advertises: its address, name, and payload at time ``t``."""

    address: str
    name: str
    suggested_name: str
    advert: Callable[[float, int], Advert]


def _wave(t: float, mean: float, amplitude: float, period: float) -> float:
    return mean + amplitude * math.sin(2 * math.pi * t / period)


DEMO_DEVICES: tuple[SimulatedDevice, ...] = (
    SimulatedDevice(
        "A4:C1:38:8D:18:B2",
        "ATC_8D18B2",
        "bedroom",
        lambda t, n: Advert(
            "A4:C1:38:8D:18:B2",
            "ATC_8D18B2",
            -61,
            {},
            {BTHOME: bthome_v2(_wave(t, 20.5, 1.5, 120), _wave(t, 45, 5, 300), 87)},
            [BTHOME],
        ),
    ),
    SimulatedDevice(
        "58:2D:34:35:93:21",
        "MJ_HT_V1",
        "hallway",
        lambda t, n: Advert(
            "58:2D:34:35:93:21",
            "MJ_HT_V1",
            -70,
            {},
            {XIAOMI: xiaomi_lywsdcgq(n, _wave(t, 18.0, 1.0, 180), _wave(t, 55, 4, 240))},
            [XIAOMI],
        ),
    ),
    SimulatedDevice(
        "F3:4A:1C:77:EF:AF",
        "Ruuvi EFAF",
        "balcony",
        lambda t, n: Advert(
            "F3:4A:1C:77:EF:AF",
            "Ruuvi EFAF",
            -78,
            {RUUVI_COMPANY: ruuvi_v5(n, _wave(t, 7.2, 3.0, 200), _wave(t, 62, 8, 400), 1013.5)},
            {},
            [],
        ),
    ),
)


class ReplayScanner(FailureFuture):
    """Advertises ``devices`` every ``interval`` s (each advert repeated, as radios do), plus neighbours."""

    mode = "simulated"

    def __init__(
        self,
        devices: tuple[SimulatedDevice, ...] = DEMO_DEVICES,
        *,
        interval: float = 1.0,
        repeats: int = 3,
        neighbours: int = 5,
        seed: int | None = None,
    ) -> None:
        self.devices = devices
        self.interval = interval
        self.repeats = repeats
        self.neighbours = neighbours
        self._rng = random.Random(seed)
        self._task: asyncio.Task[None] | None = None  # a replay never resolves ``failed`` on its own

    async def start(self, on_advert: AdvertCallback) -> None:
        """Begin advertising into ``on_advert``."""
        await self.stop()
        self._task = asyncio.create_task(self._advertise(on_advert), name="ble-replay")

    async def stop(self) -> None:
        """Stop advertising (idempotent)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _advertise(self, on_advert: AdvertCallback) -> None:
        rng = self._rng
        started = time.monotonic()
        n = 0
        while True:
            t = time.monotonic() - started
            for device in self.devices:
                advert = device.advert(t, n)
                for _ in range(self.repeats):
                    on_advert(advert._replace(rssi=advert.rssi + rng.randint(-3, 3)))
            for _ in range(self.neighbours):
                address = ":".join(f"{rng.randrange(256):02X}" for _ in range(6))
                on_advert(Advert(address, None, rng.randint(-95, -60), {0x004C: rng.randbytes(8)}, {}, []))
            n += 1
            await asyncio.sleep(self.interval)
