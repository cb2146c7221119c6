"""Drop identical repeated adverts before decoding, remembering a bounded number of addresses.

A device repeats the same advert many times a second and a busy home has dozens of devices; only a
changed payload can carry a new value. The key is the advert's data bytes (manufacturer and service
data), compared per address. The table of addresses is an LRU with a cap, so a flood of rotating
random addresses (phones, trackers) evicts old entries instead of growing memory.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

PayloadKey = tuple[tuple[tuple[int, bytes], ...], tuple[tuple[str, bytes], ...]]


def payload_key(manufacturer_data: Mapping[int, bytes], service_data: Mapping[str, bytes]) -> PayloadKey:
    """The data an advert carries, as a comparable value (RSSI and name excluded)."""
    return (tuple(manufacturer_data.items()), tuple(service_data.items()))


class AdvertDedup:
    """Per-address memory of the last payload, capped at ``cap`` addresses (least recent evicted)."""

    __slots__ = ("_last", "cap", "evicted")

    def __init__(self, cap: int = 4096) -> None:
        self.cap = cap
        self._last: OrderedDict[str, PayloadKey] = OrderedDict()
        self.evicted = 0

    def is_repeat(
        self, address: str, manufacturer_data: Mapping[int, bytes], service_data: Mapping[str, bytes]
    ) -> bool:
        """True if ``address`` sent exactly this payload last time; otherwise remember it."""
        key = (tuple(manufacturer_data.items()), tuple(service_data.items()))
        last = self._last
        previous = last.get(address)
        if previous is not None:
            last.move_to_end(address)
            if previous == key:
                return True
            last[address] = key
            return False
        last[address] = key
        if len(last) > self.cap:
            last.popitem(last=False)
            self.evicted += 1
        return False

    def forget(self, address: str) -> None:
        """Drop what is remembered about ``address`` (its next advert is decoded again)."""
        self._last.pop(address, None)

    def __len__(self) -> int:
        return len(self._last)
