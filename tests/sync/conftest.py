"""A real Mosquitto on a free loopback port (plain and TLS), a subscriber on ``#``, and a hub in a folder."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent.consent.grants import Grant, new_grant
from agent.consent.ledger import add_grant
from agent.consent.receipts import receipt_for
from agent.readings import Reading, StreamInfo
from agent.store.ledger import open_ledger
from agent.store.readings import open_readings
from agent.store.worker import LedgerWorker
from agent.sync.mqtt import MqttConnector, MqttSettings
from agent.sync.publisher import Publisher
from agent.sync.summariser import Summariser
from tests.testbed.mosquitto import MOSQUITTO, Mosquitto
from tests.testbed.wait import eventually

HUB = "test-hub"
PREFIX = "hearth/v1"


class Broker(Mosquitto):
    """The shared test broker with no per-client queue limit, so a slow test subscriber loses nothing."""

    def __init__(self, folder: Path, extra: str = "", *, persistence: Path | None = None) -> None:
        if not Path(MOSQUITTO).exists():
            pytest.skip("mosquitto is not installed (scripts/system-deps installs it)")
        super().__init__(folder, extra_conf=f"max_queued_messages 0\n{extra}", persistence=persistence)
        # Mosquitto reads its files as root and may then run as its own user.
        folder.chmod(0o755)
        self.conf.chmod(0o644)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    import shutil
    import tempfile

    folder = tmp_path / "broker-plain"
    folder.mkdir()
    # The broker drops root for its own user before writing its persistence file.
    stored = Path(tempfile.mkdtemp(prefix="hearth-test-broker-"))
    stored.chmod(0o777)
    made = Broker(folder, persistence=stored)
    made.start()
    yield made
    made.stop()
    shutil.rmtree(stored)


@dataclass
class Pki:
    """A throwaway CA and a broker certificate for 127.0.0.1/localhost."""

    ca: Path
    cert: Path
    key: Path
    other_ca: Path
    client_cert: Path
    client_key: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca(folder: Path, cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    path = folder / f"{cn}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert, path


def _write_pem(stem: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> tuple[Path, Path]:
    """Write ``cert`` to ``<stem>.pem`` and its unencrypted key to ``<stem>.key``; return both paths."""
    cert_path, key_path = stem.with_suffix(".pem"), stem.with_suffix(".key")
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.fixture
def pki() -> Iterator[Pki]:
    import shutil
    import tempfile

    # Mosquitto reads its certificates after dropping root for its own user, which cannot enter
    # pytest's private temporary folders; these throwaway files go to a readable folder instead.
    folder = Path(tempfile.mkdtemp(prefix="hearth-test-pki-"))
    folder.chmod(0o755)
    try:
        yield _make_pki(folder)
    finally:
        shutil.rmtree(folder)


def _make_pki(folder: Path) -> Pki:
    import ipaddress

    ca_key, ca_cert, ca_path = _ca(folder, "hearth-test-ca")
    _, _, other = _ca(folder, "some-other-ca")
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = _write_pem(folder / "broker", cert, key)
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = (
        x509.CertificateBuilder()
        .subject_name(_name(HUB))
        .issuer_name(ca_cert.subject)
        .public_key(client_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(ca_key, hashes.SHA256())
    )
    client_cert_path, client_key_path = _write_pem(folder / "hub", client, client_key)
    for p in folder.iterdir():
        p.chmod(0o644)
    return Pki(ca_path, cert_path, key_path, other, client_cert_path, client_key_path)


@pytest.fixture(params=["tls", "mtls"])
def tls_broker(request: pytest.FixtureRequest, tmp_path: Path, pki: Pki) -> Iterator[Broker]:
    """A TLS listener; the ``mtls`` variant also requires a client certificate signed by the CA."""
    folder = tmp_path / "broker-tls"
    folder.mkdir()
    made = Broker(folder, "")
    mutual = "require_certificate true\n" if request.param == "mtls" else ""
    made.conf.write_text(
        f"listener {made.port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n"
        f"cafile {pki.ca}\ncertfile {pki.cert}\nkeyfile {pki.key}\n{mutual}"
    )
    made.mutual = bool(mutual)  # type: ignore[attr-defined]
    made.start()
    yield made
    made.stop()


@dataclass
class Seen:
    """Messages a subscriber on ``#`` received, in arrival order."""

    messages: list[tuple[str, bytes, bool]] = field(default_factory=list)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    parsed: list[dict[str, Any]] = field(default_factory=list)
    seqs: set[int] = field(default_factory=set)

    def add(self, topic: str, payload: bytes, retain: bool) -> None:
        """Record one message (parsing data messages once, as they arrive)."""
        self.messages.append((topic, payload, retain))
        if not topic.endswith("/status") and payload.startswith(b"{"):
            body = json.loads(payload)
            self.parsed.append(body)
            self.seqs.add(body["seq"])
        self.changed.set()

    def data(self) -> list[dict[str, Any]]:
        """Payloads of the hub's data messages in arrival order (status messages excluded)."""
        return self.parsed

    async def until(self, predicate: Callable[[], bool], limit: float = 20.0) -> None:
        """Wait until ``predicate()`` holds, checked as each message arrives (and every 50 ms)."""
        await eventually(predicate, within=limit, woken_by=self.wait_for)

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate()`` holds, checked as each message arrives (and every 50 ms)."""
        while not predicate():
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), 0.05)


async def subscribe(port: int, seen: Seen, **tls: Any) -> None:
    """Subscribe to ``#`` at QoS 1 and record every message until cancelled; reconnects if dropped."""
    while True:
        try:
            async with aiomqtt.Client(
                "127.0.0.1", port, protocol=aiomqtt.ProtocolVersion.V5, **tls
            ) as client:
                await client.subscribe("#", qos=1)
                seen.ready.set()
                async for message in client.messages:
                    payload = message.payload if isinstance(message.payload, bytes) else b""
                    seen.add(str(message.topic), payload, bool(message.retain))
        except aiomqtt.MqttError:
            seen.ready.clear()
            await asyncio.sleep(0.1)


@pytest.fixture
async def subscriber(broker: Broker) -> AsyncIterator[Seen]:
    seen = Seen()
    task = asyncio.create_task(subscribe(broker.port, seen))
    await asyncio.wait_for(seen.ready.wait(), 10)
    yield seen
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


T0 = 1_700_000_000.0


class Hub:
    """A hub's data folder with direct access to the store, ledger, summariser and a publisher."""

    def __init__(self, data_dir: Path, *, cap: int = 100_000, ttl_s: float = 86400.0) -> None:
        self.data_dir = data_dir
        self.store = open_readings(data_dir)
        self.ledger = open_ledger(data_dir)
        self.cap = cap
        self.ttl_s = ttl_s
        self.summariser = Summariser(
            self.ledger, self.store.conn, hub_id=HUB, prefix=PREFIX, ttl_s=ttl_s, cap=cap, lag_s=0
        )

    def record(self, stream: str, points: list[tuple[float, float]], label: str | None = None) -> None:
        device, quantity = stream.split(".", 1)
        self.store.write_batch(
            [Reading(stream, ts, value, label) for ts, value in points],
            [("simulated", StreamInfo.of(device, quantity, "C"))],
        )

    def grant(
        self, recipient: str, strands: list[str], granularity: str, *, now: float = T0, **kw: Any
    ) -> Grant:
        made = new_grant(
            recipient=recipient,
            purpose="test",
            strands=strands,
            granularity=granularity,
            precision=kw.pop("precision", None),
            now=now,
            **kw,
        )
        add_grant(self.ledger, made, receipt_for(made, hub_id=HUB))
        return made

    def publisher(
        self,
        port: int,
        *,
        max_inflight: int = 32,
        clock: Callable[[], float] = lambda: T0 + 1000,
        **settings: Any,
    ) -> Publisher:
        """A publisher to ``port`` whose clock reads ``clock()`` (the data's time, not today)."""
        connector = MqttConnector(
            MqttSettings(
                host="127.0.0.1",
                port=port,
                client_id=HUB,
                status_topic=f"{PREFIX}/{HUB}/status",
                tls=settings.pop("tls", False),
                max_inflight=max_inflight,
                **settings,
            )
        )
        from agent.backoff import Backoff

        return Publisher(
            LedgerWorker(open_ledger(self.data_dir)),
            connector,
            max_inflight=max_inflight,
            backoff=Backoff(base=0.05, cap=0.5),
            idle_poll_s=0.1,
            clock=clock,
        )

    def close(self) -> None:
        self.store.close()
        self.ledger.close()


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    made = Hub(tmp_path / "data")
    yield made
    made.close()


async def run_publisher(publisher: Publisher) -> asyncio.Task[None]:
    """Start ``publisher`` as a task."""
    return asyncio.create_task(publisher.run(), name="publisher")


async def stop_publisher(publisher: Publisher, task: asyncio.Task[None]) -> None:
    """Cancel the publisher and close its ledger thread."""
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    publisher.ledger.close()
