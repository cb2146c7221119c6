"""A firmware bridge board's values mapped through its HELLO: sensor index → quantity and unit.

Shared by every transport that carries the bridge protocol (the serial source, BLE's Nordic UART
Service), so a board's streams are named, unit-tagged and timed the same way on each.
"""

from __future__ import annotations

from typing import NamedTuple

from agent.readings import StreamInfo
from firmware_bridge import Hello, Readings
from firmware_bridge import Reading as BoardReading


class SensorValue(NamedTuple):
    """One value of a board's sensor, with what HELLO announced for that sensor."""

    sensor: int  # its index in HELLO
    quantity: str
    unit: str
    value: float
    age: float  # seconds between the board taking the value and sending it


def board_streams(device: str, hello: Hello) -> list[StreamInfo]:
    """The streams ``<device>.<quantity>`` of the sensors ``hello`` announced, in sensor index order."""
    return [StreamInfo.of(device, sensor.quantity, sensor.unit) for sensor in hello.sensors]


def sensor_values(hello: Hello, message: Readings | BoardReading) -> tuple[list[SensorValue], int]:
    """The values of ``message`` on the sensors ``hello`` announced; and how many named no such sensor."""
    sensors = hello.sensors
    count = len(sensors)
    entries = message.entries if isinstance(message, Readings) else ((message.sensor, message.value, 0),)
    out: list[SensorValue] = []
    unknown = 0
    for index, value, age_ms in entries:
        if 0 <= index < count:
            sensor = sensors[index]
            out.append(SensorValue(index, sensor.quantity, sensor.unit, float(value), age_ms / 1000.0))
        else:
            unknown += 1
    return out, unknown
