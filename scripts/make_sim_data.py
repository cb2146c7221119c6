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


def heat_pump_plug(rng: random.Random, windows: int = 12) -> list[list[float]]:
    """A heat pump's smart plug, one row every 10 s for ``windows`` x 4 h (the appliance model's window).

    An appliance the shipped appliance model never saw (ACSF1 has none): an inverter heat pump whose runs
    of 40-80 minutes start softly and modulate, with a defrost every hour or so (six minutes near idle,
    then two at full power), and 10-25 minute pauses in which only its circulation pump draws power.
    """
    rows = []
    left = rng.uniform(0, 1800)
    running = True
    level = ramp = since_defrost = 0.0
    defrost_every = 3600.0
    for i in range(windows * 1460):
        if left <= 0:
            running = not running
            left = rng.uniform(2400, 4800) if running else rng.uniform(600, 1500)
            level, ramp = rng.uniform(900, 1400), 0.0
            defrost_every = rng.uniform(3000, 4200)
        left -= 10
        watts = 25.0  # circulation pump and controls
        if running:
            since_defrost += 10
            ramp = min(1.0, ramp + 10 / 300)
            watts = 40 + ramp * level * (1 + 0.15 * math.sin(2 * math.pi * i * 10 / 900))
            if since_defrost > defrost_every + 480:
                since_defrost = 0.0
            elif since_defrost > defrost_every + 360:
                watts = 1900.0
            elif since_defrost > defrost_every:
                watts = 60.0
        rows.append([round(max(watts + rng.gauss(0, 12), 0.0), 1)])
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
    # Its own seed, so the files above stay as they were.
    write("heat_pump_plug.csv", ["power[W]"], heat_pump_plug(random.Random(20261202)))


if __name__ == "__main__":
    main()
