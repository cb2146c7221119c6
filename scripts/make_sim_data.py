"""Regenerate the synthetic replay files in agent/sources/sim_data (deterministic, seeded).

python scripts/make_sim_data.py
"""

from __future__ import annotations

import csv
import math
import random
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "agent" / "sources" / "sim_data"


def climate(rng: random.Random) -> list[list[float]]:
    """A day of living-room temperature and humidity, one row a minute."""
    rows = []
    for minute in range(24 * 60):
        phase = 2 * math.pi * (minute / 1440 - 0.375)  # warmest mid-afternoon
        temperature = 20.5 + 1.8 * math.sin(phase) + rng.gauss(0, 0.05)
        humidity = 48 - 6 * math.sin(phase) + rng.gauss(0, 0.3)
        rows.append([round(temperature, 2), round(humidity, 1)])
    return rows


def kettle_plug(rng: random.Random) -> list[list[float]]:
    """Ten minutes of a kettle's smart plug at 5 Hz: standby, two boils of about a minute."""
    rows = []
    for tick in range(10 * 60 * 5):
        second = tick / 5
        boiling = 60 <= second < 130 or 400 <= second < 455
        watts = 1950 + rng.gauss(0, 15) if boiling else 0.4 + rng.gauss(0, 0.05)
        rows.append([round(max(watts, 0.0), 1)])
    return rows


def write(name: str, header: list[str], rows: list[list[float]]) -> None:
    with (OUT / name).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def main() -> None:
    rng = random.Random(20261124)
    OUT.mkdir(parents=True, exist_ok=True)
    write("climate.csv", ["temperature[°C]", "humidity[%]"], climate(rng))
    write("kettle_plug.csv", ["power[W]"], kettle_plug(rng))


if __name__ == "__main__":
    main()
