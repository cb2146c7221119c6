"""Repeated adverts are dropped cheaply; the table of addresses stays bounded."""

from __future__ import annotations

import random
import tracemalloc

from agent.sources.ble.dedup import AdvertDedup


def test_identical_payload_from_same_address_is_a_repeat() -> None:
    dedup = AdvertDedup()
    assert not dedup.is_repeat("AA:00:00:00:00:01", {}, {"u": b"\x01"})
    assert dedup.is_repeat("AA:00:00:00:00:01", {}, {"u": b"\x01"})
    assert not dedup.is_repeat("AA:00:00:00:00:01", {}, {"u": b"\x02"}), "a changed payload is new"
    assert not dedup.is_repeat("AA:00:00:00:00:02", {}, {"u": b"\x02"}), "another device is new"
    assert not dedup.is_repeat("AA:00:00:00:00:01", {1: b"\x02"}, {}), "manufacturer vs service data differ"


def test_forget_makes_the_next_advert_new() -> None:
    dedup = AdvertDedup()
    dedup.is_repeat("AA:00:00:00:00:01", {}, {"u": b"\x01"})
    dedup.forget("AA:00:00:00:00:01")
    assert not dedup.is_repeat("AA:00:00:00:00:01", {}, {"u": b"\x01"})


def test_least_recently_heard_address_is_evicted_at_the_cap() -> None:
    dedup = AdvertDedup(cap=2)
    dedup.is_repeat("A", {}, {"u": b"1"})
    dedup.is_repeat("B", {}, {"u": b"1"})
    assert dedup.is_repeat("A", {}, {"u": b"1"})  # A is now the most recent
    dedup.is_repeat("C", {}, {"u": b"1"})  # evicts B
    assert len(dedup) == 2
    assert dedup.evicted == 1
    assert dedup.is_repeat("A", {}, {"u": b"1"})
    assert not dedup.is_repeat("B", {}, {"u": b"1"})


def test_flood_of_rotating_addresses_does_not_grow_memory() -> None:
    seed = random.randrange(1 << 30)
    print(f"seed={seed}")
    rng = random.Random(seed)
    dedup = AdvertDedup(cap=1000)

    def flood(n: int) -> None:
        for _ in range(n):
            address = ":".join(f"{rng.randrange(256):02X}" for _ in range(6))
            dedup.is_repeat(address, {0x004C: rng.randbytes(16)}, {})

    tracemalloc.start()
    flood(5_000)  # past the cap: the table is full from here on
    full = tracemalloc.get_traced_memory()[0]
    flood(50_000)
    grown = tracemalloc.get_traced_memory()[0] - full
    tracemalloc.stop()
    assert len(dedup) == 1000
    assert dedup.evicted == 54_000
    assert grown < 50_000, f"memory grew by {grown} bytes under a flood"
