"""Fixtures for the fleet tests: a real Mosquitto on a loopback port, and the fleet's signing key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fleet_support import Mosquitto


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A private Mosquitto on 127.0.0.1, running."""
    with Mosquitto(tmp_path) as server:
        yield server


@pytest.fixture
def broker(mosquitto: Mosquitto) -> int:
    """The port of a private Mosquitto on 127.0.0.1."""
    return mosquitto.port


@pytest.fixture
def fleet_key() -> Ed25519PrivateKey:
    """The fleet manager's signing key (its public half is pinned on every test hub)."""
    return Ed25519PrivateKey.generate()
