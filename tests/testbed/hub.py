"""The 20-sensor hub that the memory soak test and the idle benchmark run, and how they read its memory."""

from __future__ import annotations

from pathlib import Path

ROOMS = 10  # each replays climate.csv: temperature + humidity, so 20 sensors


def climate_rooms(rate: float, rooms: int = ROOMS) -> str:
    """``[[sources]]`` config lines: ``rooms`` simulated rooms replaying climate.csv at ``rate`` Hz."""
    return "".join(
        f'[[sources]]\nkind = "simulated"\nname = "room{i}"\nfile = "builtin:climate.csv"\nrate = {rate}\n'
        for i in range(rooms)
    )


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB (VmRSS from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")
