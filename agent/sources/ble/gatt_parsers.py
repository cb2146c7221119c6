"""Pure parsers of the standard GATT characteristics a device is polled or notifies on.

Heart Rate Measurement (0x2A37), Environmental Sensing temperature (0x2A6E) and humidity (0x2A6F),
Battery Level (0x2A19), each per its specification; a value without the layout its specification
gives raises ``GattParseError``. ``POLLED`` lists the readable ones by configured service.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import NamedTuple

HEART_RATE_MEASUREMENT = "00002a37-0000-1000-8000-00805f9b34fb"
TEMPERATURE = "00002a6e-0000-1000-8000-00805f9b34fb"
HUMIDITY = "00002a6f-0000-1000-8000-00805f9b34fb"
BATTERY_LEVEL = "00002a19-0000-1000-8000-00805f9b34fb"

RR_UNIT = 1024.0  # RR intervals are sent in 1/1024 s


class GattParseError(ValueError):
    """A characteristic value does not have the layout its specification gives."""


class HeartRateMeasurement(NamedTuple):
    """A Heart Rate Measurement (GATT 0x2A37); ``contact`` is None when contact is not sensed."""

    bpm: int
    contact: bool | None
    energy_kj: int | None
    rr_intervals: tuple[float, ...]  # seconds, oldest first


def parse_heart_rate(data: bytes) -> HeartRateMeasurement:
    """Decode a Heart Rate Measurement per the Heart Rate Service specification."""
    if not data:
        raise GattParseError("empty heart rate measurement")
    flags = data[0]
    offset = 1
    try:
        if flags & 0x01:
            (bpm,) = struct.unpack_from("<H", data, offset)
            offset += 2
        else:
            bpm = data[offset]
            offset += 1
        contact = bool(flags & 0x02) if flags & 0x04 else None
        energy: int | None = None
        if flags & 0x08:
            (energy,) = struct.unpack_from("<H", data, offset)
            offset += 2
    except (struct.error, IndexError) as exc:
        raise GattParseError(f"heart rate measurement too short for flags 0x{flags:02x}") from exc
    rr: tuple[float, ...] = ()
    if flags & 0x10:
        rest = data[offset:]
        if len(rest) % 2:
            raise GattParseError("odd number of bytes in RR intervals")
        rr = tuple(v / RR_UNIT for (v,) in struct.iter_unpack("<H", rest))
    return HeartRateMeasurement(bpm, contact, energy, rr)


def parse_temperature(data: bytes) -> float:
    """Temperature (0x2A6E): sint16 in 0.01 °C."""
    if len(data) != 2:
        raise GattParseError(f"temperature needs 2 bytes, got {len(data)}")
    return round(int.from_bytes(data, "little", signed=True) * 0.01, 2)


def parse_humidity(data: bytes) -> float:
    """Humidity (0x2A6F): uint16 in 0.01 %."""
    if len(data) != 2:
        raise GattParseError(f"humidity needs 2 bytes, got {len(data)}")
    return round(int.from_bytes(data, "little") * 0.01, 2)


def parse_battery(data: bytes) -> float:
    """Battery Level (0x2A19): uint8 percent, 0-100."""
    if len(data) != 1 or data[0] > 100:
        raise GattParseError("battery level must be one byte of 0-100")
    return float(data[0])


POLLED: tuple[tuple[str, str, str, str, Callable[[bytes], float]], ...] = (
    ("environmental", TEMPERATURE, "temperature", "°C", parse_temperature),
    ("environmental", HUMIDITY, "humidity", "%", parse_humidity),
    ("battery", BATTERY_LEVEL, "battery", "%", parse_battery),
)
"""The readable characteristics: (service, characteristic, quantity, unit, parser)."""
