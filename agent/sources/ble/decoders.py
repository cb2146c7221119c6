"""Advert decoding with Home Assistant's parser libraries, behind one small registry.

Each ``AdvertFormat`` says which adverts a parser library understands (service UUIDs or Bluetooth
SIG company ids) and how to build its parser (with the device's bindkey where it takes one). A new
format is one more line in ``FORMATS``. ``DeviceDecoder`` keeps one parser per adopted device and
turns its ``SensorUpdate`` into ``(quantity, value, unit, label)`` tuples.

The libraries' ``SensorUpdate`` holds every value seen so far, not only this advert's: a value is
new when the parser made a new value object for it, which is what ``DeviceDecoder`` compares.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

from agent.sources.ble.advert import Advert

if TYPE_CHECKING:
    # Every parser library brings these along (habluetooth pulls bleak, dbus-fast, bluetooth-data-tools
    # and cryptography: ~15 MB); they are imported with the first parser, not with the BLE source.
    from bleak.backends.device import BLEDevice
    from bluetooth_sensor_state_data import BluetoothData
    from habluetooth import BluetoothServiceInfoBleak
    from sensor_state_data import DeviceKey, SensorDescription, SensorUpdate

log = logging.getLogger(__name__)

_SIG_BASE = "-0000-1000-8000-00805f9b34fb"
# Quantities every parser adds that describe the radio or the protocol, not the sensed world.
SKIPPED_KEYS = frozenset({"signal_strength", "packet_id"})


_NUMBERS = frozenset({int, float})  # exact types: a bool is a binary sensor, reported separately


def sig_uuid(short: int) -> str:
    """The 128-bit form of a 16-bit Bluetooth SIG UUID."""
    return f"0000{short:04x}{_SIG_BASE}"


@dataclass(frozen=True, slots=True)
class AdvertFormat:
    """One parser library: what it recognises and how to make a parser for one device."""

    name: str
    make: Callable[[bytes | None], BluetoothData]
    service_uuids: frozenset[str] = frozenset()
    company_ids: frozenset[int] = frozenset()
    takes_bindkey: bool = False

    def matches(self, advert: Advert) -> bool:
        """True if ``advert`` carries data this format's parser reads."""
        if self.service_uuids and not self.service_uuids.isdisjoint(advert.service_data):
            return True
        return bool(self.company_ids) and not self.company_ids.isdisjoint(advert.manufacturer_data)


# Parser libraries are imported when a device of their format first shows up, so a hub carries only
# the ones its sensors need.


def _bthome(key: bytes | None) -> BluetoothData:
    from bthome_ble import BTHomeBluetoothDeviceData

    return BTHomeBluetoothDeviceData(bindkey=key)


def _xiaomi(key: bytes | None) -> BluetoothData:
    parser = _xiaomi_parser()
    data: BluetoothData = parser.XiaomiBluetoothDeviceData(bindkey=key)
    return data


def _xiaomi_parser() -> ModuleType:
    """``xiaomi_ble.parser``, without running the package's ``__init__``.

    That ``__init__`` imports the library's Xiaomi-cloud client (aiohttp, pycryptodomex's extras:
    ~13 MB), which reading adverts never uses and which would put a hub with models and a Xiaomi
    sensor over its 80 MB. The package is registered bare, so the parser's relative imports
    (``.const``, ``.devices``...) still resolve; a full import made before is used as it is.
    """
    if "xiaomi_ble" not in sys.modules:
        spec = importlib.util.find_spec("xiaomi_ble")
        if spec is None:
            raise ModuleNotFoundError("xiaomi-ble is not installed", name="xiaomi_ble")
        sys.modules["xiaomi_ble"] = importlib.util.module_from_spec(spec)
    return importlib.import_module("xiaomi_ble.parser")


def _ruuvitag(_key: bytes | None) -> BluetoothData:
    from ruuvitag_ble import RuuvitagBluetoothDeviceData

    return RuuvitagBluetoothDeviceData()


FORMATS: tuple[AdvertFormat, ...] = (
    AdvertFormat(
        "bthome",
        _bthome,
        frozenset({sig_uuid(0xFCD2), sig_uuid(0x181C), sig_uuid(0x181E)}),
        takes_bindkey=True,
    ),
    AdvertFormat("xiaomi", _xiaomi, frozenset({sig_uuid(0xFE95)}), takes_bindkey=True),
    AdvertFormat("ruuvitag", _ruuvitag, company_ids=frozenset({0x0499})),
)


def detect_format(advert: Advert, formats: tuple[AdvertFormat, ...] = FORMATS) -> AdvertFormat | None:
    """The first registered format that reads ``advert``, or None."""
    for fmt in formats:
        if fmt.matches(advert):
            return fmt
    return None


# One value out of an advert: (quantity, value, unit, label); events carry their type as label.
# A plain tuple, not a NamedTuple: it is built for every value of every advert.
Decoded = tuple[str, float, str, str | None]


# What one advert gave: (values, malformed, decrypt_failed). ``malformed`` means unreadable,
# truncated or empty; a plain tuple because it is returned for every advert.
DecodeOutcome = tuple[list[Decoded], bool, bool]


def _text(key: Any) -> str:
    return str(getattr(key, "value", key))


def _quantity(device_key: DeviceKey) -> str:
    key = _text(device_key.key)
    return key if device_key.device_id is None else f"{key}_{device_key.device_id}"


def _describe(key: DeviceKey, description: SensorDescription | None) -> list[Any]:
    """[key, quantity or None to skip, unit, last value] for a sensor value the parser reports."""
    quantity = _quantity(key)
    unit = description.native_unit_of_measurement if description else None
    skip = _text(key.key) in SKIPPED_KEYS
    return [key, None if skip else quantity, "" if unit is None else _text(unit), None]


def service_info(advert: Advert, device: BLEDevice, now: float) -> BluetoothServiceInfoBleak:
    """The parser libraries' view of ``advert`` (``now`` is wall-clock seconds)."""
    from habluetooth import BluetoothServiceInfoBleak

    # The parsers only read these; bleak hands over fresh dicts and lists per advert anyway.
    return BluetoothServiceInfoBleak(
        advert.name or advert.address,
        advert.address,
        advert.rssi,
        cast(dict[int, bytes], advert.manufacturer_data),
        cast(dict[str, bytes], advert.service_data),
        cast(list[str], advert.service_uuids),
        "local",
        device,
        None,
        False,
        now,
        None,
    )


@dataclass(slots=True)
class DeviceDecoder:
    """The parser of one adopted device and what it last emitted."""

    fmt: AdvertFormat
    bindkey: bytes | None = None
    parser: BluetoothData = field(init=False)
    _device: BLEDevice | None = field(default=None, init=False)
    _seen: dict[int, list[Any]] = field(default_factory=dict, init=False)
    _info: type[BluetoothServiceInfoBleak] = field(init=False)
    _new_device: type[BLEDevice] = field(init=False)

    def __post_init__(self) -> None:
        self.parser = self.fmt.make(self.bindkey if self.fmt.takes_bindkey else None)
        from bleak.backends.device import BLEDevice
        from habluetooth import BluetoothServiceInfoBleak

        self._info = BluetoothServiceInfoBleak
        self._new_device = BLEDevice

    def decode(self, advert: Advert, now: float | None = None) -> DecodeOutcome:
        """Feed ``advert`` to the parser; return only the values this advert carried."""
        device = advert.device
        if device is None:
            device = self._device
            if device is None or device.address != advert.address:
                device = self._device = self._new_device(advert.address, advert.name, None)
        info = self._info(
            advert.name or advert.address,
            advert.address,
            advert.rssi,
            advert.manufacturer_data,  # type: ignore[arg-type]
            advert.service_data,  # type: ignore[arg-type]
            advert.service_uuids,  # type: ignore[arg-type]
            "local",
            device,
            None,
            False,
            time.time() if now is None else now,
            None,
        )  # as ``service_info`` builds it, inlined: this runs for every new advert
        try:
            update = self.parser.update(info)
        except Exception:  # noqa: BLE001 - a parser choking on a malformed advert is counted
            return ([], True, False)
        values = self._new_values(update)
        if values:
            return (values, False, False)
        if self._decrypt_failed():
            return (values, False, True)
        return (values, True, False)

    def _new_values(self, update: SensorUpdate) -> list[Decoded]:
        # Keys are looked up by identity: the parser keeps each DeviceKey object for its lifetime
        # (``_seen`` holds a reference too, so an id is never reused), and hashing the dataclass
        # per value would cost more than the rest of this function. An entry is
        # [key, quantity (None: skipped), unit, last value object].
        out: list[Decoded] = []
        seen = self._seen
        for key, value in update.entity_values.items():
            entry = seen.get(id(key))
            if entry is None:
                entry = seen[id(key)] = _describe(key, update.entity_descriptions.get(key))
            if entry[3] is value or entry[1] is None:
                continue
            entry[3] = value
            native = value.native_value
            if native.__class__ in _NUMBERS:
                out.append((entry[1], float(native), entry[2], None))  # type: ignore[arg-type]
        if update.binary_entity_values:
            for key, binary in update.binary_entity_values.items():
                entry = seen.get(id(key))
                if entry is None:
                    entry = seen[id(key)] = [key, _quantity(key), "", None]
                if entry[3] is binary:
                    continue
                entry[3] = binary
                if binary.native_value is not None:
                    out.append((entry[1], 1.0 if binary.native_value else 0.0, "", None))
        for key, event in update.events.items():
            out.append((_quantity(key), 1.0, "", event.event_type))
        return out

    def _decrypt_failed(self) -> bool:
        parser = self.parser
        scheme = getattr(parser, "encryption_scheme", None)
        if scheme is None or _text(scheme) == "none":
            return False
        return not getattr(parser, "bindkey_verified", True)


def identify(advert: Advert) -> str | None:
    """A short description of what ``advert`` is (format and model), for discovery; None if unknown."""
    fmt = detect_format(advert)
    if fmt is None:
        return None
    decoder = DeviceDecoder(fmt)
    from bleak.backends.device import BLEDevice

    try:
        update = decoder.parser.update(
            service_info(advert, BLEDevice(advert.address, advert.name, None), time.time())
        )
    except Exception:  # noqa: BLE001 - an unreadable advert is still a candidate of that format
        return fmt.name
    model = _model(update.devices)
    return f"{fmt.name} ({model})" if model else fmt.name


def _model(devices: Mapping[str | None, Any]) -> str | None:
    info = devices.get(None)
    return None if info is None else getattr(info, "model", None)
