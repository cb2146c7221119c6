"""Helpers for the dashboard tests: a hub served in-process, a fake clock, logging in over HTTP."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import subprocess
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent.config import config_from_mapping
from agent.config.schema import WebConfig
from agent.daemon import Agent
from agent.store.ledger import open_ledger
from agent.web.auth import hash_password, store_hash
from agent.web.server import WebServer
from tests.conftest import REPO

PASSWORD = "correct horse battery"
ARTIFACTS = REPO / "test-artifacts" / "web"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def ramp_csv(path: Path, rows: int = 600) -> Path:
    """A simulation CSV whose value changes on every row, so a live value visibly moves."""
    path.write_text("level[%]\n" + "\n".join(f"{(i * 7) % 1000 / 10:.1f}" for i in range(1, rows)) + "\n")
    return path


def set_password(data_dir: Path, password: str = PASSWORD) -> None:
    """Store the owner's password as ``hearth web set-password`` does."""
    ledger = open_ledger(data_dir)
    try:
        store_hash(ledger, hash_password(password))
    finally:
        ledger.close()


@dataclass
class RunningHub:
    """A ``hearth run`` process with the dashboard enabled and the owner's password set."""

    config: Path
    url: str
    process: subprocess.Popen[bytes]


@dataclass
class Served:
    """A running hub with its dashboard on a free loopback port."""

    agent: Agent
    server: WebServer
    clock: FakeClock
    url: str


@asynccontextmanager
async def serve(
    tmp_path: Path,
    *,
    sources: Sequence[dict[str, Any]] = (),
    sections: dict[str, Any] | None = None,
    **web: str,
) -> AsyncIterator[Served]:
    """Run a hub (one simulated tank sensor, plus ``sources`` and config ``sections``) with the dashboard."""
    data_dir = tmp_path / "data"
    config = config_from_mapping(
        {
            "hub": {"id": "web-hub", "data_dir": str(data_dir)},
            "store": {"flush_interval": "50ms"},
            "sources": [
                {
                    "kind": "simulated",
                    "name": "tank",
                    "file": str(ramp_csv(tmp_path / "tank.csv")),
                    "rate": 10,
                },
                *sources,
            ],
            **(sections or {}),
        }
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    set_password(data_dir)
    agent = Agent(config)
    clock = FakeClock()
    server = WebServer(agent, WebConfig(port=0, live_interval="100ms", **web), clock=clock)
    agent.services["web"] = server.run
    task = asyncio.create_task(agent.run())
    try:
        async with asyncio.timeout(10):
            await server.ready.wait()
        assert server.url is not None
        yield Served(agent, server, clock, server.url.rstrip("/"))
    finally:
        agent.stop()
        await task


def client() -> aiohttp.ClientSession:
    """An HTTP client that keeps cookies for the loopback address (and trusts the test certificate)."""
    return aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True), connector=aiohttp.TCPConnector(ssl=False)
    )


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files in ``folder``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hearth test hub")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "hub.crt", folder / "hub.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


async def login(http: aiohttp.ClientSession, url: str, password: str = PASSWORD) -> int:
    """Submit the login form as a browser would; return the response status (303 on success)."""
    async with http.get(f"{url}/login") as response:
        token = _CSRF.search(await response.text())
    assert token is not None, "the login form carries a CSRF token"
    async with http.post(
        f"{url}/login", data={"csrf": token.group(1), "password": password}, allow_redirects=False
    ) as response:
        return response.status


async def csrf_of(http: aiohttp.ClientSession, url: str) -> str:
    """The logged-in session's CSRF token, read from a page."""
    async with http.get(f"{url}/", allow_redirects=False) as response:
        assert response.status == 200
        match = _CSRF.search(await response.text())
    assert match is not None
    return match.group(1)
