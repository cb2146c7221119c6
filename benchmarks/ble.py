"""BLE benchmark: advert -> decoded readings against the bare parser, and repeats dropped per second.

Run from the repo root inside the project's environment: ``python benchmarks/ble.py [--quick]``.
The decode path is the source's detection callback (adoption lookup, dedup, the parser library,
mapping to readings, queueing) fed BTHome v2 adverts that are all different; the baseline is
``BTHomeBluetoothDeviceData.update()`` on the same payloads, prepared in advance.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import struct
import time

from bleak.backends.device import BLEDevice
from bthome_ble import BTHomeBluetoothDeviceData
from habluetooth import BluetoothServiceInfoBleak

from agent.pipeline.sink import Sink
from agent.readings import Reading
from agent.sources.ble.adoption import Adoption
from agent.sources.ble.advert import Advert
from agent.sources.ble.decoders import sig_uuid
from agent.sources.ble.source import BleSource

ADDRESS = "A4:C1:38:8D:18:B2"
BTHOME = sig_uuid(0xFCD2)


class _IdleScanner:
    mode = "bench"

    async def start(self, on_advert: object) -> None:
        """Never called: the benchmark feeds the callback directly."""

    async def stop(self) -> None:
        """Nothing to stop."""

    @property
    def failed(self) -> asyncio.Future[BaseException]:
        return asyncio.get_event_loop().create_future()


def payloads(n: int) -> list[bytes]:
    """``n`` distinct BTHome v2 payloads (temperature and humidity)."""
    return [
        b"\x40" + struct.pack("<Bh", 0x02, 1500 + i % 2000) + struct.pack("<BH", 0x03, 3000 + i // 2000)
        for i in range(n)
    ]


def bench_bare(data: list[bytes]) -> float:
    """Readings/s of the bare parser: build its ``BluetoothServiceInfoBleak``, call ``update()``.

    Building the service info from bleak's (device, advertisement data) is the least any caller of
    the parser does per advert (Home Assistant does the same); the values are counted, not kept.
    """
    parser = BTHomeBluetoothDeviceData()
    device = BLEDevice(ADDRESS, "ATC_8D18B2", None)
    adverts: list[tuple[dict[int, bytes], dict[str, bytes], list[str]]] = [
        ({}, {BTHOME: d}, []) for d in data
    ]
    update = parser.update
    start = time.perf_counter()
    values = 0
    for manufacturer, service, uuids in adverts:
        info = BluetoothServiceInfoBleak(
            "ATC_8D18B2",
            ADDRESS,
            -60,
            manufacturer,
            service,
            uuids,
            "local",
            device,
            None,
            False,
            time.time(),
            None,
        )
        values += len(update(info).entity_values) - 1  # minus signal strength
    return values / (time.perf_counter() - start)


def new_source(n: int) -> tuple[BleSource, Sink]:
    source = BleSource("ble", _IdleScanner(), adoptions=[Adoption(ADDRESS, "bedroom")])
    sink = Sink("ble", "ble", maxsize=n * 4, policy="drop_oldest", wake=lambda: None)
    source._sink = sink  # the callback is measured without the run loop around it
    return source, sink


def bench_source(data: list[bytes]) -> float:
    """Readings/s through the source's detection callback."""
    source, sink = new_source(len(data))
    adverts = [Advert(ADDRESS, "ATC_8D18B2", -60, {}, {BTHOME: d}, []) for d in data]
    on_advert = source.on_advert
    batch: list[Reading] = []
    elapsed = 0.0
    for at in range(0, len(adverts), 256):
        chunk = adverts[at : at + 256]
        start = time.perf_counter()
        for advert in chunk:
            on_advert(advert)
        elapsed += time.perf_counter() - start
        sink.take(batch, len(sink))  # the recorder's share, on its own time: drain as it does
        batch.clear()
    assert sink.dropped == 0
    return source.readings / elapsed


def bench_repeats(n: int) -> float:
    """Identical adverts dropped per second (after the first is decoded)."""
    source, _sink = new_source(4)
    advert = Advert(ADDRESS, "ATC_8D18B2", -60, {}, {BTHOME: payloads(1)[0]}, [])
    on_advert = source.on_advert
    on_advert(advert)
    start = time.perf_counter()
    for _ in range(n):
        on_advert(advert)
    elapsed = time.perf_counter() - start
    assert source.repeats == n
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a CI-sized run")
    args = parser.parse_args()
    n = 3_000 if args.quick else 30_000
    rounds = 5 if args.quick else 9
    data = payloads(n)
    bench_bare(data[:500])  # warm up imports and caches
    bench_source(data[:500])
    # Alternate the two in each round and keep the median ratio: the machine may be shared.
    pairs = sorted(((bench_source(data), bench_bare(data)) for _ in range(rounds)), key=lambda p: p[0] / p[1])
    ours, bare = pairs[len(pairs) // 2]
    repeats = max(bench_repeats(n * 10) for _ in range(rounds))
    ratio = ours / bare
    print(f"new payloads, bare BTHome parser update(): {bare:,.0f} readings/s")
    print(f"new payloads, advert -> decoded readings:  {ours:,.0f} readings/s (ratio {ratio:.2f}, >= 0.8)")
    print(f"repeated adverts dropped before decoding:  {repeats:,.0f} adverts/s (target >= 50,000)")
    print(
        json.dumps(
            {
                "name": "ble",
                "value": round(ours),
                "unit": "readings/s",
                "baseline": round(bare),
                "ratio": round(ratio, 3),
                "target": ">= 0.8",
                "repeats_dropped_per_s": round(repeats),
                "repeats_target": ">= 50000",
            }
        )
    )


if __name__ == "__main__":
    main()
