"""Known adverts of every supported format decode to the right values and units."""

from __future__ import annotations

import pytest

from agent.sources.ble.advert import Advert
from agent.sources.ble.decoders import FORMATS, DeviceDecoder, detect_format, identify
from tests.ble import payloads as p


def decode(advert: Advert, bindkey: str | None = None) -> dict[str, tuple[float, str]]:
    fmt = detect_format(advert)
    assert fmt is not None
    values, malformed, decrypt_failed = DeviceDecoder(
        fmt, bytes.fromhex(bindkey) if bindkey else None
    ).decode(advert)
    assert not malformed
    assert not decrypt_failed
    return {q: (v, u) for q, v, u, _label in values}


@pytest.mark.parametrize(
    ("advert", "bindkey", "expected"),
    [
        pytest.param(
            p.bthome(p.BTHOME_V2_TEMP_HUM),
            None,
            {"temperature": (25.06, "°C"), "humidity": (50.55, "%")},
            id="bthome-v2",
        ),
        pytest.param(
            p.bthome(p.BTHOME_V2_PRESSURE), None, {"pressure": (1008.83, "mbar")}, id="bthome-v2-pressure"
        ),
        pytest.param(
            p.bthome(p.BTHOME_V1_TEMP_HUM_BATT, uuid=p.BTHOME_V1),
            None,
            {"temperature": (23.97, "°C"), "humidity": (63.27, "%"), "battery": (93.0, "%")},
            id="bthome-v1",
        ),
        pytest.param(
            p.bthome(p.BTHOME_ENCRYPTED, p.BTHOME_ENCRYPTED_ADDRESS, "SBHT-003C"),
            p.BTHOME_BINDKEY,
            {"temperature": (25.06, "°C"), "humidity": (50.55, "%")},
            id="bthome-v2-encrypted",
        ),
        pytest.param(
            p.xiaomi(p.XIAOMI_LYWSDCGQ),
            None,
            {"temperature": (25.4, "°C"), "humidity": (58.4, "%")},
            id="xiaomi",
        ),
        pytest.param(
            p.xiaomi(p.XIAOMI_CGG1, p.XIAOMI_CGG1_ADDRESS),
            p.XIAOMI_CGG1_BINDKEY,
            {"humidity": (59.6, "%")},
            id="xiaomi-encrypted",
        ),
        pytest.param(
            p.ruuvi(),
            None,
            {
                "temperature": (7.2, "°C"),
                "humidity": (61.84, "%"),
                "pressure": (1013.54, "hPa"),
                "voltage": (2395.0, "mV"),
                "movement_counter": (114.0, ""),
                "acceleration_x": (-7.02, "m/s²"),
                "acceleration_y": (6.39, "m/s²"),
                "acceleration_z": (-2.51, "m/s²"),
                "acceleration_total": (9.82, "m/s²"),
            },
            id="ruuvitag-v5",
        ),
    ],
)
def test_known_adverts_decode_to_values_with_units(
    advert: Advert, bindkey: str | None, expected: dict[str, tuple[float, str]]
) -> None:
    assert decode(advert, bindkey) == expected


def test_radio_metadata_is_not_a_reading() -> None:
    values = decode(p.bthome(b"\x40\x00\x2e\x01\x64\x02\xca\x09"))
    assert "signal_strength" not in values
    assert "packet_id" not in values
    assert values == {"battery": (100.0, "%"), "temperature": (25.06, "°C")}


@pytest.mark.parametrize(
    ("advert", "bindkey"),
    [
        pytest.param(
            p.bthome(p.BTHOME_ENCRYPTED, p.BTHOME_ENCRYPTED_ADDRESS), p.WRONG_BINDKEY, id="bthome-wrong"
        ),
        pytest.param(p.bthome(p.BTHOME_ENCRYPTED, p.BTHOME_ENCRYPTED_ADDRESS), None, id="bthome-missing"),
        pytest.param(p.xiaomi(p.XIAOMI_CGG1, p.XIAOMI_CGG1_ADDRESS), p.BTHOME_BINDKEY, id="xiaomi-wrong"),
    ],
)
def test_wrong_or_missing_bindkey_is_reported_not_raised(advert: Advert, bindkey: str | None) -> None:
    fmt = detect_format(advert)
    assert fmt is not None
    values, _malformed, decrypt_failed = DeviceDecoder(
        fmt, bytes.fromhex(bindkey) if bindkey else None
    ).decode(advert)
    assert decrypt_failed
    assert values == []


@pytest.mark.parametrize(
    "advert",
    [
        pytest.param(p.bthome(b"\x40\x02"), id="bthome-truncated"),
        pytest.param(p.bthome(b"\xe0\x02\x00\x0c\x04\x04\x13\x8a\x01"), id="bthome-bad-version"),
        pytest.param(p.bthome(b""), id="bthome-empty"),
        pytest.param(p.ruuvi(b"\x05\x01"), id="ruuvi-truncated"),
        pytest.param(p.ruuvi(b"\x99" + p.RUUVI_V5[1:]), id="ruuvi-unknown-format"),
        pytest.param(p.xiaomi(b"\xff\xff\xff"), id="xiaomi-garbage"),
    ],
)
def test_malformed_adverts_are_reported_not_raised(advert: Advert) -> None:
    fmt = detect_format(advert)
    assert fmt is not None
    values, malformed, _decrypt_failed = DeviceDecoder(fmt).decode(advert)
    assert malformed
    assert values == []


def test_registry_recognises_each_format_and_nothing_else() -> None:
    assert [f.name for f in FORMATS] == ["bthome", "xiaomi", "ruuvitag"]
    assert detect_format(p.bthome(p.BTHOME_V2_TEMP_HUM)).name == "bthome"  # type: ignore[union-attr]
    assert detect_format(p.xiaomi(p.XIAOMI_LYWSDCGQ)).name == "xiaomi"  # type: ignore[union-attr]
    assert detect_format(p.ruuvi()).name == "ruuvitag"  # type: ignore[union-attr]
    phone = Advert("11:22:33:44:55:66", None, -70, {0x004C: b"\x10\x05"}, {}, [])
    assert detect_format(phone) is None
    assert identify(phone) is None


def test_identify_names_format_and_model() -> None:
    assert identify(p.xiaomi(p.XIAOMI_LYWSDCGQ)) == "xiaomi (LYWSDCGQ)"
    assert identify(p.ruuvi()) == "ruuvitag (RuuviTag)"
    assert identify(p.bthome(p.BTHOME_V2_TEMP_HUM)) == "bthome (Temperature/Humidity sensor)"


def test_only_values_the_advert_carried_are_emitted() -> None:
    decoder = DeviceDecoder(FORMATS[0])
    first = decoder.decode(p.bthome(p.BTHOME_V2_TEMP_HUM))
    assert {d[0] for d in first[0]} == {"temperature", "humidity"}
    second = decoder.decode(p.bthome(p.BTHOME_V2_PRESSURE))
    assert {d[0] for d in second[0]} == {"pressure"}
