"""Helpers shared by the benchmarks: the closing JSON line and a write-syscall byte counter."""

from __future__ import annotations

import json
from pathlib import Path


def report(
    name: str, value: float, unit: str, *, baseline: float | None, ratio: float | None, target: str
) -> None:
    """Print the benchmark's closing line in the format DESIGN.md fixes."""
    print(
        json.dumps(
            {
                "name": name,
                "value": round(value, 3),
                "unit": unit,
                "baseline": None if baseline is None else round(baseline, 3),
                "ratio": None if ratio is None else round(ratio, 3),
                "target": target,
            }
        )
    )


def bytes_written() -> int:
    """Bytes this process has passed to write(2) so far (``wchar`` in /proc/self/io)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise RuntimeError("no wchar in /proc/self/io")
