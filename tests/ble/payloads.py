"""Known-good advert payloads, restated from the parser libraries' own test suites."""

import struct

from agent.sources.ble.advert import Advert

BTHOME = "0000fcd2-0000-1000-8000-00805f9b34fb"
BTHOME_V1 = "0000181c-0000-1000-8000-00805f9b34fb"
XIAOMI = "0000fe95-0000-1000-8000-00805f9b34fb"

BTHOME_ADDRESS = "A4:C1:38:8D:18:B2"
# bthome-ble tests/test_parser_v2.py: temperature 25.06 °C, humidity 50.55 % (v2, plain)
BTHOME_V2_TEMP_HUM = b"\x40\x02\xca\x09\x03\xbf\x13"
# bthome-ble tests/test_parser_v2.py test_mac_as_name: pressure 1008.83 mbar
BTHOME_V2_PRESSURE = b"\x40\x04\x13\x8a\x01"
# bthome-ble tests/test_parser_v1.py: temperature 23.97, humidity 63.27, battery 93 (v1, plain)
BTHOME_V1_TEMP_HUM_BATT = b"#\x02]\t\x03\x03\xb7\x18\x02\x01]"
# bthome-ble tests/test_parser_v2.py test_bindkey_correct: Shelly BLU H&T, 25.06 °C, 50.55 %
BTHOME_ENCRYPTED_ADDRESS = "54:48:E6:8F:80:A5"
BTHOME_ENCRYPTED = b"\x41\xa4\x72\x66\xc9\x5f\x73\x00\x11\x22\x33\x78\x23\x72\x14"
BTHOME_BINDKEY = "231d39c1d7cc1ab1aee224cd096db932"
WRONG_BINDKEY = "814aac74c4f17b6c1581e1ab87816b99"

# xiaomi-ble tests/test_parser.py test_Xiaomi_LYWSDCGQ: 25.4 °C, 58.4 %
XIAOMI_ADDRESS = "58:2D:34:35:93:21"
XIAOMI_LYWSDCGQ = b"P \xaa\x01\xda!\x9354-X\r\x10\x04\xfe\x00H\x02"
# xiaomi-ble tests/test_parser.py test_Xiaomi_CGG1 (MiBeacon v5, encrypted): humidity 59.6 %
XIAOMI_CGG1_ADDRESS = "5A:58:2D:34:12:5F"
XIAOMI_CGG1 = b"XXH\x0bh_\x124-XZ\x0b\x18A\xe2\xaa\x00\x0e\x00\xa4\x96O\xb5"
XIAOMI_CGG1_BINDKEY = "814aac74c4f17b6c1581e1ab87816b99"

# ruuvitag-ble tests/test_v5.py: data format 5
RUUVI_ADDRESS = "C8:25:2D:8E:EF:AF"
RUUVI_V5 = bytes.fromhex("0505a060a0c89afd34028cff006376726976dead7b3fefaf")


def bthome(
    payload: bytes, address: str = BTHOME_ADDRESS, name: str = "ATC_8D18B2", uuid: str = BTHOME
) -> Advert:
    """An advert carrying BTHome service data."""
    return Advert(address, name, -60, {}, {uuid: payload}, [])


def xiaomi(payload: bytes, address: str = XIAOMI_ADDRESS) -> Advert:
    """An advert carrying Xiaomi MiBeacon service data."""
    return Advert(address, "Test", -60, {}, {XIAOMI: payload}, [XIAOMI])


def ruuvi(payload: bytes = RUUVI_V5, address: str = RUUVI_ADDRESS) -> Advert:
    """An advert carrying RuuviTag manufacturer data."""
    return Advert(address, "Ruuvi EFAF", -60, {0x0499: payload}, {}, [])


def bthome_temp(centi: int, address: str = BTHOME_ADDRESS) -> Advert:
    """A BTHome v2 advert with temperature ``centi`` / 100 °C."""
    return bthome(b"\x40\x02" + centi.to_bytes(2, "little", signed=True), address)


def encode_hrm(flags: int, bpm: int, energy: int, rr: list[int]) -> bytes:
    """A Heart Rate Measurement laid out per the Heart Rate Service spec for ``flags``."""
    out = bytes([flags])
    out += struct.pack("<H", bpm) if flags & 0x01 else struct.pack("<B", bpm)
    if flags & 0x08:
        out += struct.pack("<H", energy)
    if flags & 0x10:
        out += b"".join(struct.pack("<H", v) for v in rr)
    return out
