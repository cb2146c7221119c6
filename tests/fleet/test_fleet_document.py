"""The signed document and the config file swap, without a broker."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import msgspec
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.config import load_config
from agent.errors import ConfigError
from agent.fleet import files
from agent.fleet.document import (
    DOMAIN,
    DocumentError,
    Envelope,
    canonical,
    decode,
    encode,
    key_id,
    load_public_key,
    public_key_text,
    sign,
    signature_valid,
)

ENVELOPE = Envelope(
    version=3,
    target="group:kitchens",
    issued_at=1_700_000_000,
    expires_at=1_700_086_400,
    key_id="0011223344556677",
    config_format="toml",
    config='[store]\nflush_interval = "1s"\n',
)


def test_canonical_bytes_are_the_fields_in_order_without_whitespace() -> None:
    assert canonical(ENVELOPE) == DOMAIN + (
        b'{"format":"hearth-fleet/1","version":3,"target":"group:kitchens","issued_at":1700000000,'
        b'"expires_at":1700086400,"key_id":"0011223344556677","config_format":"toml",'
        b'"config":"[store]\\nflush_interval = \\"1s\\"\\n"}'
    )


def test_round_trip_and_reformatted_json_still_verifies() -> None:
    key = Ed25519PrivateKey.generate()
    payload = encode(sign(ENVELOPE, key))
    assert decode(payload).envelope == ENVELOPE
    pretty = json.dumps(json.loads(payload), indent=2, sort_keys=True).encode()
    assert signature_valid(decode(pretty), key.public_key())


@pytest.mark.parametrize(
    "change",
    [
        {"version": 4},
        {"target": "group:attics"},
        {"issued_at": 1_700_000_001},
        {"expires_at": 1_800_000_000},
        {"key_id": "ffffffffffffffff"},
        {"config_format": "json"},
        {"config": '[store]\nflush_interval = "2s"\n'},
    ],
    ids=lambda change: next(iter(change)),
)
def test_changing_any_envelope_field_breaks_the_signature(change: dict[str, object]) -> None:
    key = Ed25519PrivateKey.generate()
    document = sign(ENVELOPE, key)
    altered = msgspec.structs.replace(document, envelope=msgspec.structs.replace(ENVELOPE, **change))
    assert signature_valid(document, key.public_key())
    assert not signature_valid(altered, key.public_key())


def test_unknown_envelope_fields_are_refused() -> None:
    wire = json.loads(encode(sign(ENVELOPE, Ed25519PrivateKey.generate())))
    wire["envelope"]["grants"] = []
    with pytest.raises(DocumentError, match="unknown field"):
        decode(json.dumps(wire).encode())


def test_the_pinned_key_loads_from_base64_pem_text_or_files(tmp_path: Path) -> None:
    public = Ed25519PrivateKey.generate().public_key()
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "fleet.pem").write_bytes(pem)
    (tmp_path / "fleet.pub").write_text(public_key_text(public) + "\n")
    for value in (public_key_text(public), pem.decode(), str(tmp_path / "fleet.pem"), "fleet.pub"):
        assert key_id(load_public_key(value, base_dir=tmp_path)) == key_id(public)
    with pytest.raises(ConfigError, match=r"fleet\.public_key"):
        load_public_key(base64.b64encode(b"short").decode(), base_dir=tmp_path)


def test_install_swaps_atomically_keeps_prev_and_the_mode(tmp_path: Path) -> None:
    path = tmp_path / "hearth.toml"
    path.write_text('[hub]\nid = "a"\n# by hand\n')
    os.chmod(path, 0o640)
    config = load_config(path)
    files.install(path, files.render(config, version=2))
    assert load_config(path) == config
    assert "version 2" in path.read_text()
    assert path.with_name("hearth.toml.prev").read_text().endswith("# by hand\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert not path.with_name("hearth.toml.new").exists()
    files.restore_previous(path)
    assert path.read_text().endswith("# by hand\n")


def test_a_hub_config_with_an_unusable_pinned_key_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "hearth.toml"
    path.write_text('[hub]\nid = "a"\n[fleet]\npublic_key = "fleet.pub"\nbroker = { host = "localhost" }\n')
    with pytest.raises(ConfigError, match=r"hearth\.toml: fleet\.public_key: not a base64 Ed25519 key"):
        load_config(path)
    (tmp_path / "fleet.pub").write_text(public_key_text(Ed25519PrivateKey.generate().public_key()))
    assert load_config(path).fleet is not None
