"""What every source is: something that runs until cancelled and puts readings into its sink."""

from __future__ import annotations

from typing import Protocol

from agent.pipeline.sink import OverflowPolicy, Sink


class Source(Protocol):
    """A collector of readings (simulated device, serial board, BLE scanner...).

    ``run`` returns only when the source has nothing more to give (a finite replay) and raises when
    it fails; the daemon's supervisor restarts it with backoff either way, unless it finished.
    """

    name: str
    kind: str
    overflow: OverflowPolicy

    async def run(self, sink: Sink) -> None:
        """Collect readings into ``sink`` until cancelled or finished."""
        ...
