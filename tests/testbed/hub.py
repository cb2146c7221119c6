"""The 20-sensor hub that the soak tests and the idle benchmark run, and how they read its memory,
descriptors and threads."""

from __future__ import annotations

from pathlib import Path

ROOMS = 10  # each replays climate.csv: temperature + humidity, so 20 sensors


def climate_rooms(rate: float, rooms: int = ROOMS) -> str:
    """``[[sources]]`` config lines: ``rooms`` simulated rooms replaying climate.csv at ``rate`` Hz."""
    return "".join(
        f'[[sources]]\nkind = "simulated"\nname = "room{i}"\nfile = "builtin:climate.csv"\nrate = {rate}\n'
        for i in range(rooms)
    )


def _status(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {key} for process {pid}")


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB (VmRSS from /proc)."""
    return _status(pid, "VmRSS") / 1024


def threads(pid: int) -> int:
    """How many threads process ``pid`` runs."""
    return _status(pid, "Threads")


def open_fds(pid: int) -> int:
    """How many file descriptors process ``pid`` has open."""
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))
