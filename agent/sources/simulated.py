"""A simulated device: replays a CSV of recorded values at a set rate, as if it were live.

The CSV's first row names the streams as ``quantity[unit]`` (``power[W]``); each later row is one
sample of every stream. ``builtin:NAME`` refers to the files shipped in ``agent/sources/sim_data``.
"""

from __future__ import annotations

import asyncio
import csv
import functools
import time
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import overload

import msgspec

from agent.errors import ConfigError
from agent.pipeline.sink import OverflowPolicy, Sink
from agent.readings import Reading, StreamInfo

BUILTIN_DIR = Path(__file__).parent / "sim_data"


class Rows(Sequence[tuple[float, ...]]):
    """A table's rows, read-only, stored as one packed array of doubles (8 bytes a value, not ~40 as
    float objects in tuples: the demo plug's 14,600 rows take 0.1 MB instead of 1.2 MB)."""

    __slots__ = ("_count", "_values", "_width")

    def __init__(self, values: array[float], width: int, count: int) -> None:
        self._values = values
        self._width = width
        self._count = count

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> tuple[float, ...]: ...
    @overload
    def __getitem__(self, index: slice) -> list[tuple[float, ...]]: ...
    def __getitem__(self, index: int | slice) -> tuple[float, ...] | list[tuple[float, ...]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        count = self._count
        if index < 0:
            index += count
        if not 0 <= index < count:
            raise IndexError("row index out of range")
        start = index * self._width
        return tuple(self._values[start : start + self._width])


class SimulatedTable(msgspec.Struct, frozen=True):
    """A replayable table: one StreamInfo per column, rows of floats (shared between tables of one file)."""

    streams: list[StreamInfo]
    rows: Rows


def resolve_data_file(file: str) -> Path:
    """Map ``builtin:NAME`` to the shipped file; other paths are taken as they are."""
    if file.startswith("builtin:"):
        return BUILTIN_DIR / file.removeprefix("builtin:")
    return Path(file)


def load_table(device: str, file: str) -> SimulatedTable:
    """Read and check a simulation CSV; raise ``ConfigError`` naming the file, row and column."""
    path = resolve_data_file(file)
    try:
        stat = path.stat()
        header, rows = _read(str(path), stat.st_mtime_ns, stat.st_size)
    except OSError as exc:
        raise ConfigError(f"cannot read simulation data: {exc.strerror}", source=str(path)) from exc
    return SimulatedTable([_parse_header(device, cell, str(path)) for cell in header], rows)


# Sources replaying one file share its rows: a hub of twenty rooms replaying the same climate file
# holds it once, not twenty times (~3.5 MB). Keyed by modification time and size, so an edited file is
# read again; errors are raised each time, not kept.
@functools.lru_cache(maxsize=8)
def _read(path: str, _mtime_ns: int, _size: int) -> tuple[tuple[str, ...], Rows]:
    with open(path, newline="", encoding="utf-8") as handle:
        lines = list(csv.reader(handle))
    if len(lines) < 2:
        raise ConfigError("needs a header row and at least one data row", source=path)
    header = tuple(lines[0])
    values = array("d")
    for number, line in enumerate(lines[1:], start=2):
        if len(line) != len(header):
            raise ConfigError(
                f"row {number} has {len(line)} values, the header names {len(header)}",
                source=path,
            )
        try:
            values.extend([float(cell) for cell in line])
        except ValueError as exc:
            raise ConfigError(f"row {number}: {exc}", source=path) from None
    return header, Rows(values, len(header), len(lines) - 1)


def _parse_header(device: str, cell: str, source: str) -> StreamInfo:
    name, _, rest = cell.strip().partition("[")
    unit = rest.removesuffix("]") if rest else ""
    if not name:
        raise ConfigError(f"empty column name in header {cell!r}", source=source)
    return StreamInfo.of(device, name.strip(), unit)


class SimulatedSource:
    """Replays ``table`` as device ``name`` at ``rate`` rows per second, stamped with the wall clock."""

    kind = "simulated"

    def __init__(
        self,
        name: str,
        table: SimulatedTable,
        *,
        rate: float = 1.0,
        loop: bool = True,
        overflow: OverflowPolicy = "block",
    ) -> None:
        self.name = name
        self.table = table
        self.rate = rate
        self.loop = loop
        self.overflow: OverflowPolicy = overflow
        self.position = 0

    async def run(self, sink: Sink) -> None:
        """Emit rows on a fixed schedule (no drift), resuming where a restart left off.

        Each row is stamped with its scheduled time, so rows stay exactly ``1 / rate`` apart even
        when the loop runs late and catches up.
        """
        names = [info.name for info in self.table.streams]
        for info in self.table.streams:
            sink.declare(info)
        period = 1.0 / self.rate
        next_at = time.monotonic()
        wall_offset = time.time() - next_at
        rows = self.table.rows
        while True:
            if self.position >= len(rows):
                if not self.loop:
                    return
                self.position = 0
            stamp = wall_offset + next_at
            for stream, value in zip(names, rows[self.position], strict=True):
                await sink.put(Reading(stream, stamp, value))
            self.position += 1
            next_at += period
            delay = next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -1.0:
                # Fell far behind (a suspended hub): skip ahead rather than burst to catch up.
                next_at = time.monotonic()
