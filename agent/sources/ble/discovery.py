"""Discovery: which devices are advertising nearby, held in memory only and never stored."""

from __future__ import annotations

import asyncio
import time
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
    last_seen: float = 0.0  # unix time of the newest advert


class Discovery:
    """Collects candidates from adverts, keeping at most ``cap`` (least recently heard dropped)."""

    def __init__(self, cap: int = 1024) -> None:
        self.cap = cap
        self.candidates: OrderedDict[str, Candidate] = OrderedDict()

    def on_advert(self, advert: Advert, now: float | None = None) -> Candidate:
        """Record ``advert``'s device (heard at unix time ``now``) and return it; decode its type once."""
        seen = time.time() if now is None else now
        found = self.candidates.get(advert.address)
        if found is None:
            kind = identify(advert) if detect_format(advert) else None
            found = Candidate(advert.address, advert.name, kind, advert.rssi, last_seen=seen)
            self.candidates[advert.address] = found
            if len(self.candidates) > self.cap:
                self.candidates.popitem(last=False)
            return found
        self.candidates.move_to_end(advert.address)
        found.adverts += 1
        found.rssi = advert.rssi
        found.last_seen = seen
        found.name = found.name or advert.name
        if found.kind is None and detect_format(advert):
            found.kind = identify(advert)
        return found

    def forget(self, address: str) -> None:
        """Drop ``address`` from the table (it was adopted, or the owner looked away)."""
        self.candidates.pop(address, None)

    def ranked(self) -> list[Candidate]:
        """Candidates of known formats first, then by signal strength."""
        return sorted(self.candidates.values(), key=lambda c: (c.kind is None, -c.rssi))


async def discover(scanner: AdvertScanner, seconds: float, cap: int = 1024) -> list[Candidate]:
    """Scan for ``seconds`` and return the candidates heard, known formats first."""
    discovery = Discovery(cap)

    def heard(advert: Advert) -> None:
        discovery.on_advert(advert)

    await scanner.start(heard)
    try:
        await asyncio.sleep(seconds)
    finally:
        await scanner.stop()
    return discovery.ranked()
