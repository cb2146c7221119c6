"""``hearth fleet``: keygen, sign, push and status, run as the real command against a real hub and broker."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import stat
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fleet_support import CLIMATE, PLUG, running, watching

from agent.config import load_config
from agent.fleet.document import public_key_text
from tests.conftest import hearth


def _hub_config(root: Path, public_key_file: Path, port: int) -> Path:
    folder = root / "hub-c"
    folder.mkdir()
    path = folder / "hearth.toml"
    path.write_text(
        f"""
[hub]
id = "hub-c"
data_dir = "{folder / "data"}"
groups = ["kitchens"]

[fleet]
public_key = "{public_key_file}"
confirm_window = "300ms"

[fleet.broker]
host = "127.0.0.1"
port = {port}
tls = false
{PLUG}
"""
    )
    return path


async def test_keygen_sign_push_status_round_trip(tmp_path: Path, broker: int) -> None:
    keys = tmp_path / "keys"
    made = await asyncio.to_thread(hearth, "fleet", "keygen", "--out", str(keys))
    assert made.returncode == 0, made.stderr
    assert stat.S_IMODE((keys / "fleet.key").stat().st_mode) == 0o600
    public = (keys / "fleet.pub").read_text().strip()
    assert public in made.stdout
    again = await asyncio.to_thread(hearth, "fleet", "keygen", "--out", str(keys))
    assert again.returncode == 2
    assert "refusing to overwrite" in again.stderr

    pushed_config = tmp_path / "kitchen.toml"
    pushed_config.write_text(f"{PLUG}\n{CLIMATE}")
    signed = await asyncio.to_thread(
        hearth, "fleet", "sign", str(pushed_config), "--key", str(keys / "fleet.key"),
        "--version", "2", "--target", "group:kitchens", "--expires", "1h",
    )  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    document = tmp_path / "kitchen.v2.signed.json"
    assert document.exists()

    path = _hub_config(tmp_path, keys / "fleet.pub", broker)
    broker_url = f"mqtt://127.0.0.1:{broker}"
    async with watching(broker) as watcher, running([path]) as (hub,):
        pushed = await asyncio.to_thread(
            hearth, "fleet", "push", str(document), "--broker", broker_url, "--wait", "3s"
        )
        assert pushed.returncode == 0, pushed.stderr
        assert "hearth/v1/fleet/group/kitchens" in pushed.stdout
        assert "hub-c: applied" in pushed.stdout
        assert "1 hub reported v2: 1 applied, 0 rejected, 0 rolled_back" in pushed.stdout
        await watcher.wait_for(["hub-c"], "applied", 2)
        assert hub.agent.source_runner("climate") is not None

        # A document for this hub alone that fails its health check: --wait ends with the hub's report.
        board = tmp_path / "board.toml"
        board.write_text(f'{PLUG}\n[[sources]]\nkind = "serial"\nname = "bench"\nport = "/dev/hearth-none"\n')
        signed = await asyncio.to_thread(
            hearth, "fleet", "sign", str(board), "--key", str(keys / "fleet.key"),
            "--version", "3", "--target", "hub:hub-c", "--out", str(tmp_path / "board.signed.json"),
        )  # fmt: skip
        assert signed.returncode == 0, signed.stderr
        board_document = str(tmp_path / "board.signed.json")
        failed = await asyncio.to_thread(
            hearth, "fleet", "push", board_document, "--broker", broker_url, "--wait", "60s"
        )
        assert failed.returncode == 1, failed.stdout + failed.stderr
        assert "hub-c: rolled_back: source bench" in failed.stdout
        assert "1 hub reported v3: 0 applied, 0 rejected, 1 rolled_back" in failed.stdout

        shown = await asyncio.to_thread(
            hearth, "fleet", "status", "--broker", broker_url, "--wait", "500ms", env_extra={"COLUMNS": "160"}
        )
        assert shown.returncode == 0, shown.stderr
        row = next(line for line in shown.stdout.splitlines() if "hub-c" in line)
        assert "v2" in row  # still running v2: v3 was rolled back
        assert "rolled_back" in row
        assert "online" in row
    assert [s.name for s in load_config(path).sources] == ["plug", "climate"]

    # On the hub, the owner sees what the fleet changed: its own history, and the chained audit log.
    wide = {"COLUMNS": "160"}
    history = await asyncio.to_thread(hearth, "fleet", "history", "-c", str(path), env_extra=wide)
    assert history.returncode == 0, history.stderr
    assert "running v2" in history.stdout
    row = next(line for line in history.stdout.splitlines() if "v2" in line and "applied" in line)
    assert row
    ledger = sqlite3.connect(path.parent / "data" / "ledger.db")
    entries = ledger.execute("SELECT kind, detail FROM audit_log WHERE kind = 'config'").fetchall()
    ledger.close()
    changes = [(json.loads(detail)["version"], json.loads(detail)["outcome"]) for _, detail in entries]
    assert changes == [(2, "applied"), (3, "rolled_back")]
    verified = await asyncio.to_thread(hearth, "passport", "verify", "-c", str(path))
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_history_on_a_hub_that_never_received_a_push(tmp_path: Path, fleet_key: Ed25519PrivateKey) -> None:
    (tmp_path / "fleet.pub").write_text(public_key_text(fleet_key.public_key()) + "\n")
    path = _hub_config(tmp_path, tmp_path / "fleet.pub", 1)
    result = hearth("fleet", "history", "-c", str(path))
    assert result.returncode == 0, result.stderr
    assert "no fleet documents received" in result.stdout


def test_sign_refuses_a_config_a_hub_would_reject(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    assert hearth("fleet", "keygen", "--out", str(keys)).returncode == 0
    bad = tmp_path / "bad.toml"
    bad.write_text("[store]\nbatch_size = 0\n")
    result = hearth(
        "fleet", "sign", str(bad), "--key", str(keys / "fleet.key"), "--version", "1", "--target", "hub:a"
    )
    assert result.returncode == 2
    assert "store.batch_size" in result.stderr
    assert "Traceback" not in result.stderr

    grants = tmp_path / "grants.toml"
    grants.write_text('[upstream]\ngrants = ["all"]\n')
    result = hearth(
        "fleet", "sign", str(grants), "--key", str(keys / "fleet.key"), "--version", "1", "--target", "hub:a"
    )
    assert result.returncode == 2
    assert "consent grants" in result.stderr


def test_push_with_a_bad_broker_url_is_a_clear_error(tmp_path: Path) -> None:
    document = tmp_path / "doc.json"
    document.write_text("{}")
    result = hearth("fleet", "push", str(document), "--broker", "http://example")
    assert result.returncode == 2
    assert "expected mqtt://host:port" in result.stderr
    assert "Traceback" not in result.stderr
