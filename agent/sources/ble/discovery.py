"""Discovery: which devices are advertising nearby, held in memory only and never stored."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass

from agent.sources.ble.advert import Advert, AdvertScanner
from agent.sources.ble.decoders import detect_format, identify


@dataclass(slots=True)
class Candidate:
    """A device heard during discovery: what it is, how loud, how often."""

    address: str
    name: str | None
    kind: str | None
    rssi: int
    adverts: int = 1


class Discovery:
    """Collects candidates from adverts, keeping at most ``cap`` (least recently heard dropped)."""

    def __init__(self, cap: int = 1024) -> None:
        self.cap = cap
        self.candidates: OrderedDict[str, Candidate] = OrderedDict()

    def on_advert(self, advert: Advert) -> None:
        """Record ``advert``'s device; decode its type once it carries a known format."""
        found = self.candidates.get(advert.address)
        if found is None:
            kind = identify(advert) if detect_format(advert) else None
            self.candidates[advert.address] = Candidate(advert.address, advert.name, kind, advert.rssi)
            if len(self.candidates) > self.cap:
                self.candidates.popitem(last=False)
            return
        self.candidates.move_to_end(advert.address)
        found.adverts += 1
        found.rssi = advert.rssi
        found.name = found.name or advert.name
        if found.kind is None and detect_format(advert):
            found.kind = identify(advert)

    def ranked(self) -> list[Candidate]:
        """Candidates of known formats first, then by signal strength."""
        return sorted(self.candidates.values(), key=lambda c: (c.kind is None, -c.rssi))


async def discover(scanner: AdvertScanner, seconds: float, cap: int = 1024) -> list[Candidate]:
    """Scan for ``seconds`` and return the candidates heard, known formats first."""
    discovery = Discovery(cap)
    await scanner.start(discovery.on_advert)
    try:
        await asyncio.sleep(seconds)
    finally:
        await scanner.stop()
    return discovery.ranked()
