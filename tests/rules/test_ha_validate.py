"""Home Assistant's own code accepts every discovery payload the hub can produce (slow: installs HA).

Runs ``scripts/ha-validate``: each pinned Home Assistant release in its own virtual env, the MQTT
discovery schema and the sensor integration's unit / device class / state class rules. Not in the
default run; ``pytest -m slow tests/rules/test_ha_validate.py`` or ``scripts/ha-validate`` runs it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(3600)  # the first run downloads and installs each release
def test_home_assistant_accepts_every_discovery_payload() -> None:
    result = subprocess.run(
        [str(ROOT / "scripts" / "ha-validate")], capture_output=True, text=True, check=False, timeout=3500
    )
    assert result.returncode == 0, result.stdout + result.stderr
    releases = [line for line in result.stdout.splitlines() if line.startswith('{"home_assistant"')]
    assert len(releases) >= 2, result.stdout  # the oldest and the newest supported release
    assert all('"failures": 0' in line for line in releases), result.stdout
