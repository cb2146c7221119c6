"""Windows for a model, assembled from readings of several streams and resampled to the model's rate.

Pure bookkeeping, no I/O: ``feed`` readings in, get finished windows out. Each stream's readings are put
on a common grid of the card's rate (``bin = round((ts - t0) * rate)``, several readings in one bin are
averaged, short gaps are held from the previous sample). A window is finished when every input has
reached its last bin, or when one input has run a whole hop past it while another lags (that input is
missing or stale). A window where an input covers less than ``min_coverage`` of its bins is skipped and
counted, never fed to the model.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np

from agent.readings import Reading


class Window(NamedTuple):
    """A finished window: ``data`` is (window x inputs) in the card's units, or None with a skip reason."""

    start_ts: float
    end_ts: float
    data: np.ndarray | None
    skipped: str | None = None


class WindowAssembler:
    """Collects readings of ``streams`` into windows of ``window`` samples every ``hop`` at ``rate`` Hz."""

    def __init__(
        self,
        streams: Sequence[str],
        *,
        rate: float,
        window: int,
        hop: int,
        min_coverage: float = 0.9,
    ) -> None:
        self.streams = list(streams)
        self.channel = {name: i for i, name in enumerate(self.streams)}
        self.rate = rate
        self.window = window
        self.hop = hop
        self.min_coverage = min_coverage
        self.t0: float | None = None
        self.start = 0  # first bin of the next window
        self._bins: list[list[int]] = [[] for _ in self.streams]
        self._values: list[list[float]] = [[] for _ in self.streams]
        self._latest = [-1] * len(self.streams)
        self.late = 0  # readings older than the window being filled, ignored

    def feed(self, readings: Iterable[Reading]) -> list[Window]:
        """Take in readings (any streams; others are ignored); return the windows they finished."""
        channel = self.channel
        rate = self.rate
        for reading in readings:
            c = channel.get(reading.stream)
            if c is None:
                continue
            if self.t0 is None:
                self.t0 = reading.ts
            b = round((reading.ts - self.t0) * rate)
            if b < self.start:
                self.late += 1
                continue
            self._bins[c].append(b)
            self._values[c].append(reading.value)
            self._latest[c] = max(self._latest[c], b)
        return self._finished()

    def _finished(self) -> list[Window]:
        out: list[Window] = []
        while True:
            last = self.start + self.window - 1
            if min(self._latest) < last and max(self._latest) < last + self.hop:
                return out
            out.append(self._assemble())
            self.start += self.hop
            self._prune()
            # Windows that lie wholly in a silence of every input are skipped in one step.
            earliest = min((min(bins) for bins in self._bins if bins), default=self.start)
            empty = (earliest - self.start - self.window) // self.hop + 1
            if empty > 0:
                out.append(self._skip_window(empty))
                self.start += empty * self.hop
                self._prune()

    def _ts(self, b: int) -> float:
        assert self.t0 is not None
        return self.t0 + b / self.rate

    def _skip_window(self, count: int) -> Window:
        return Window(self._ts(self.start), self._ts(self.start + count * self.hop), None, f"stale:{count}")

    def _assemble(self) -> Window:
        start, size = self.start, self.window
        data = np.empty((size, len(self.streams)), dtype=np.float32)
        for c in range(len(self.streams)):
            bins = np.asarray(self._bins[c], dtype=np.int64) - start
            values = np.asarray(self._values[c], dtype=np.float64)
            inside = (bins >= 0) & (bins < size)
            bins, values = bins[inside], values[inside]
            counts = np.bincount(bins, minlength=size)
            filled = counts > 0
            coverage = filled.mean()
            if coverage < self.min_coverage:
                reason = "missing" if not filled.any() else "gaps"
                return Window(self._ts(start), self._ts(start + size), None, reason)
            sums = np.bincount(bins, weights=values, minlength=size)
            column = np.zeros(size)
            column[filled] = sums[filled] / counts[filled]
            if not filled.all():
                # Hold the previous sample across a short gap (the first filled one before the start).
                index = np.where(filled, np.arange(size), 0)
                np.maximum.accumulate(index, out=index)
                first = int(np.argmax(filled))
                index[:first] = first
                column = column[index]
            data[:, c] = column
        return Window(self._ts(start), self._ts(start + size), data)

    def _prune(self) -> None:
        start = self.start
        for c in range(len(self.streams)):
            bins = self._bins[c]
            if bins and bins[0] < start:
                keep = [i for i, b in enumerate(bins) if b >= start]
                self._bins[c] = [bins[i] for i in keep]
                self._values[c] = [self._values[c][i] for i in keep]
