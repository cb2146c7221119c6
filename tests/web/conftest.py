"""Fixtures for the dashboard tests: a real hub in a subprocess, and Debian's Chromium via Playwright."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, hearth
from tests.testbed.dashboard import CHROMIUM, CHROMIUM_ARGS, WRIST_ACTIVITY
from tests.testbed.mosquitto import MOSQUITTO, Mosquitto, free_port
from tests.testbed.wait import wait_until
from tests.web.web_support import ARTIFACTS, PASSWORD, RunningHub, ramp_csv


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}login", timeout=1):
            return True
    except (urllib.error.URLError, ConnectionError):
        return False


# Simulated BLE thermometers (and neighbours), and a wrist IMU replay with the activity model.
BLE_AND_CONTEXT = (
    """
[[sources]]
kind = "ble"
name = "ble"
simulate = true
adoption_refresh = "1s"
"""
    + WRIST_ACTIVITY
)


@pytest.fixture
def running_hub(tmp_path: Path) -> Iterator[RunningHub]:
    """Start ``hearth run`` on a free port with a fast-changing simulated sensor; stop it afterwards."""
    yield from _run_hub(tmp_path)


@pytest.fixture
def running_ble_hub(tmp_path: Path) -> Iterator[RunningHub]:
    """``running_hub`` with simulated BLE devices and a model that tells the wearer's activity."""
    yield from _run_hub(tmp_path, BLE_AND_CONTEXT)


@pytest.fixture
def running_context_hub(tmp_path: Path) -> Iterator[RunningHub]:
    """``running_hub`` with a replayed wrist IMU and the activity model classifying it."""
    yield from _run_hub(tmp_path, WRIST_ACTIVITY)


@pytest.fixture
def running_far_hub(tmp_path: Path) -> Iterator[RunningHub]:
    """``running_context_hub`` on Pacific/Auckland (hub.timezone) in a process whose own zone is UTC."""
    yield from _run_hub(tmp_path, WRIST_ACTIVITY, timezone="Pacific/Auckland", env={"TZ": "UTC"})


@pytest.fixture
def market_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A real Mosquitto for intents: the market broker vendors read."""
    if not Path(MOSQUITTO).exists():
        pytest.fail(f"{MOSQUITTO} is missing: run scripts/system-deps")
    folder = tmp_path / "market"
    folder.mkdir()
    with Mosquitto(folder) as broker:
        yield broker


@pytest.fixture
def running_market_hub(tmp_path: Path, market_broker: Mosquitto) -> Iterator[RunningHub]:
    """``running_hub`` that publishes intents on ``market_broker`` and looks for offers every second."""
    market = f"""
[market]
host = "127.0.0.1"
port = {market_broker.port}
tls = false
check_every = "1s"
"""
    yield from _run_hub(tmp_path, market)


def _run_hub(
    tmp_path: Path, extra: str = "", *, timezone: str = "UTC", env: dict[str, str] | None = None
) -> Iterator[RunningHub]:
    config = tmp_path / "hearth.toml"
    config.write_text(
        f"""
[hub]
id = "e2e-hub"
name = "Test flat"
data_dir = "{tmp_path / "data"}"
timezone = "{timezone}"

[store]
flush_interval = "100ms"

[[sources]]
kind = "simulated"
name = "tank"
file = "{ramp_csv(tmp_path / "tank.csv")}"
rate = 4
{extra}
[web]
port = {free_port()}
live_interval = "250ms"
"""
    )
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD + "\n")
    result = hearth("web", "set-password", "-c", str(config), "--password-file", str(password_file))
    assert result.returncode == 0, result.stderr
    url = hearth("web", "url", "-c", str(config)).stdout.strip()
    log = (tmp_path / "hearth.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "agent", "run", "-c", str(config)],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    try:
        wait_until(lambda: process.poll() is not None or _answers(url), "the dashboard to answer")
        assert process.poll() is None, (tmp_path / "hearth.log").read_text()
        yield RunningHub(config, url, process)
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


@pytest.fixture
def chromium() -> Iterator[object]:
    """Debian's Chromium, headless, driven by Playwright (never a downloaded browser)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/system-deps")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
