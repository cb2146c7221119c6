"""Drop identical repeated adverts before decoding, remembering a bounded number of addresses.

A device repeats the same advert many times a second and a busy home has dozens of devices; only a
changed payload can carry a new value. The key is the advert's data (manufacturer and service data
bytes; RSSI and name excluded), compared per address. The table of addresses is an LRU with a cap,
so a flood of rotating random addresses (phones, trackers) evicts old entries instead of growing
memory.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

# The advert's own data mappings are kept and compared (dict equality runs in C); bleak builds
# fresh mappings for every advert and never changes them afterwards.
PayloadKey = tuple[Mapping[int, bytes], Mapping[str, bytes]]


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
        last = self._last
        previous = last.get(address)
        if previous is not None:
            last.move_to_end(address)
            if previous[1] == service_data and previous[0] == manufacturer_data:
                return True
            last[address] = (manufacturer_data, service_data)
            return False
        last[address] = (manufacturer_data, service_data)
        if len(last) > self.cap:
            last.popitem(last=False)
            self.evicted += 1
        return False

    def forget(self, address: str) -> None:
        """Drop what is remembered about ``address`` (its next advert is decoded again)."""
        self._last.pop(address, None)

    def __len__(self) -> int:
        return len(self._last)
