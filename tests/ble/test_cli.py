"""``hearth ble``: discover stores nothing; adopt and forget change what is recorded."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from agent.cli import cli
from agent.readings import Reading, StreamInfo
from agent.store.readings import open_readings
from tests.ble import payloads as p

KEY = p.BTHOME_BINDKEY


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "hearth.toml"
    hub = f'[hub]\nid = "test-hub"\ndata_dir = "{tmp_path / "data"}"\n'
    path.write_text(hub + '\n[[sources]]\nkind = "ble"\nsimulate = true\n', encoding="utf-8")
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_adopt_list_forget(config: Path, tmp_path: Path) -> None:
    code, out = run(
        "ble", "adopt", "a4:c1:38:8d:18:b2", "--name", "bedroom", "--bindkey", KEY, "-c", str(config)
    )
    assert code == 0, out
    assert "adopted A4:C1:38:8D:18:B2 as bedroom (with bindkey)" in out
    assert KEY not in out
    code, out = run("ble", "list", "-c", str(config))
    assert code == 0
    assert "bedroom\tA4:C1:38:8D:18:B2\tencrypted" in out
    assert KEY not in out
    db = tmp_path / "data" / "readings.db"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600

    store = open_readings(tmp_path / "data")
    now = time.time()
    store.write_batch(
        [Reading("bedroom.temperature", now, 21.0), Reading("kitchen.temperature", now, 19.0)],
        [
            ("ble", StreamInfo.of("bedroom", "temperature", "°C")),
            ("ble", StreamInfo.of("kitchen", "temperature")),
        ],
    )
    store.close()

    code, out = run("ble", "forget", "bedroom", "-c", str(config))
    assert code == 0, out
    assert "erased 1 readings" in out
    store = open_readings(tmp_path / "data", read_only=True)
    try:
        assert store.count_readings("bedroom.temperature") == 0
        assert store.count_readings() == 1
        assert [r["stream"] for r in store.stream_overview(now=now)] == ["kitchen.temperature"]
    finally:
        store.close()
    assert run("ble", "list", "-c", str(config))[1].startswith("no BLE devices adopted")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["nonsense", "--name", "x"], "not a Bluetooth address", id="address"),
        pytest.param([p.BTHOME_ADDRESS, "--name", "Bad Name"], "not a usable device name", id="name"),
        pytest.param([p.BTHOME_ADDRESS, "--name", "x", "--bindkey", "abc123"], "hex digits", id="bindkey"),
    ],
)
def test_bad_adoption_is_a_clear_error(config: Path, args: list[str], message: str) -> None:
    code, out = run("ble", "adopt", *args, "-c", str(config))
    assert code == 2
    assert message in out
    assert "Traceback" not in out
    assert "abc123" not in out


def test_name_clash_and_unknown_forget(config: Path) -> None:
    assert run("ble", "adopt", p.BTHOME_ADDRESS, "--name", "bedroom", "-c", str(config))[0] == 0
    code, out = run("ble", "adopt", p.RUUVI_ADDRESS, "--name", "bedroom", "-c", str(config))
    assert code == 2
    assert "already adopted for another device" in out
    code, out = run("ble", "adopt", p.BTHOME_ADDRESS, "--name", "attic", "-c", str(config))
    assert code == 2
    assert "already adopted as 'bedroom'" in out
    code, out = run("ble", "forget", "attic", "-c", str(config))
    assert code == 2
    assert "no adopted BLE device is named 'attic'" in out


def test_discover_lists_candidates_and_stores_nothing(config: Path, tmp_path: Path) -> None:
    code, out = run("ble", "discover", "--seconds", "1", "-c", str(config))
    assert code == 0, out
    assert "A4:C1:38:8D:18:B2" in out
    assert "bthome" in out
    assert "nothing was stored" in out
    assert not (tmp_path / "data").exists()


def test_forgotten_device_is_not_written_by_a_running_store(tmp_path: Path) -> None:
    store = open_readings(tmp_path)
    try:
        now = time.time()
        store.write_batch(
            [Reading("bedroom.temperature", now, 21.0)], [("ble", StreamInfo.of("bedroom", "temperature"))]
        )
        assert store.forget_device("bedroom") == 1
        assert store.write_batch([Reading("bedroom.temperature", now + 1, 22.0)]) == 0
        assert store.count_readings() == 0
    finally:
        store.close()
