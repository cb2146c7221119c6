"""Config push over TLS with the broker's certificate verified, against a real Mosquitto TLS listener."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID
from fleet_support import PLUG, Mosquitto, running, write_hub

from agent.config import load_config
from agent.fleet.document import public_key_text
from tests.conftest import hearth
from tests.testbed.wait import eventually


def _certificate(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[str, ec.EllipticCurvePrivateKey] | None
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    issuer_name, issuer_key = issuer or (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
    )
    if issuer is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write_ca(folder: Path, name: str) -> tuple[Path, tuple[str, ec.EllipticCurvePrivateKey]]:
    key = ec.generate_private_key(ec.SECP256R1())
    path = folder / f"{name}.pem"
    path.write_bytes(_certificate(name, key, None).public_bytes(serialization.Encoding.PEM))
    return path, (name, key)


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[Mosquitto, Path]]:
    """Mosquitto with only a TLS listener, its certificate issued by a test CA; yields it and the CA file."""
    ca_file, ca = _write_ca(tmp_path, "hearth-test-ca")
    key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "server.pem").write_bytes(
        _certificate("127.0.0.1", key, ca).public_bytes(serialization.Encoding.PEM)
    )
    (tmp_path / "server.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server = Mosquitto(tmp_path)
    server.conf.write_text(
        # When started as root Mosquitto switches to its own user, which cannot read the test's folder.
        f"listener {server.port} 127.0.0.1\nallow_anonymous true\npersistence false\nuser root\n"
        f"cafile {ca_file}\ncertfile {tmp_path / 'server.pem'}\nkeyfile {tmp_path / 'server.key'}\n"
    )
    server.start()
    try:
        yield server, ca_file
    finally:
        server.stop()


async def test_push_over_verified_tls(
    tmp_path: Path, tls_broker: tuple[Mosquitto, Path], fleet_key: Ed25519PrivateKey
) -> None:
    server, ca_file = tls_broker
    path = write_hub(tmp_path, "hub-t", key=fleet_key, port=server.port)
    path.write_text(path.read_text().replace("tls = false", f'ca_file = "{ca_file}"'))
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "fleet.key").write_bytes(
        fleet_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    assert public_key_text(fleet_key.public_key()) in path.read_text()
    pushed = tmp_path / "pushed.toml"
    pushed.write_text(PLUG.replace('name = "plug"', 'name = "plug2"'))
    signed = await asyncio.to_thread(
        hearth, "fleet", "sign", str(pushed), "--key", str(keys / "fleet.key"),
        "--version", "1", "--target", "hub:hub-t",
    )  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    document = tmp_path / "pushed.v1.signed.json"
    url = f"mqtts://127.0.0.1:{server.port}"

    other_ca, _ = _write_ca(tmp_path, "someone-else")
    refused = await asyncio.to_thread(
        hearth, "fleet", "push", str(document), "--broker", url, "--ca-file", str(other_ca)
    )
    assert refused.returncode == 1
    assert "cannot publish" in refused.stderr
    assert "Traceback" not in refused.stderr

    async with running([path]) as (hub,):
        result = await asyncio.to_thread(
            hearth, "fleet", "push", str(document), "--broker", url, "--ca-file", str(ca_file)
        )
        assert result.returncode == 0, result.stderr
        await eventually(lambda: hub.agent.source_runner("plug2") is not None, "the pushed config over TLS")
    assert [s.name for s in load_config(path).sources] == ["plug2"]
