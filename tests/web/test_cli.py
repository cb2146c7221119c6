"""``hearth web``: the password is set once by the owner, stored hashed; no password, no LAN."""

from __future__ import annotations

import socket
import stat
import subprocess
import sys
from pathlib import Path

from agent.store.ledger import open_ledger
from agent.web.auth import stored_hash, verify_password
from tests.conftest import REPO, hearth
from tests.web.web_support import PASSWORD


def hearth_typed(*args: str, typed: str) -> subprocess.CompletedProcess[str]:
    """``hearth`` with ``typed`` on its standard input (answers to prompts)."""
    return subprocess.run(
        [sys.executable, "-m", "agent", *args],
        input=typed,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO,
    )


def _config(tmp_path: Path, listen: str = "127.0.0.1") -> Path:
    path = tmp_path / "hearth.toml"
    path.write_text(
        f"""
[hub]
id = "cli-hub"
data_dir = "{tmp_path / "data"}"

[web]
listen = "{listen}"
port = 8751
"""
    )
    return path


def test_set_password_stores_only_a_hash_in_the_private_ledger(tmp_path: Path) -> None:
    config = _config(tmp_path)
    secret = tmp_path / "secret"
    secret.write_text(PASSWORD + "\n")
    result = hearth("web", "set-password", "-c", str(config), "--password-file", str(secret))
    assert result.returncode == 0, result.stderr
    ledger_file = tmp_path / "data" / "ledger.db"
    assert stat.S_IMODE(ledger_file.stat().st_mode) == 0o600
    ledger = open_ledger(tmp_path / "data", read_only=True)
    try:
        encoded = stored_hash(ledger)
    finally:
        ledger.close()
    assert encoded is not None
    assert encoded.startswith("scrypt$")
    assert verify_password(PASSWORD, encoded)
    assert not verify_password(PASSWORD + "x", encoded)
    for path in (tmp_path / "data").iterdir():
        assert PASSWORD.encode() not in path.read_bytes(), f"the password itself is in {path.name}"
    assert PASSWORD not in result.stdout + result.stderr


def test_set_password_prompts_twice_and_refuses_a_short_one(tmp_path: Path) -> None:
    config = _config(tmp_path)
    short = hearth_typed("web", "set-password", "-c", str(config), "--password-file", "-", typed="short\n")
    assert short.returncode == 2
    assert "at least 10 characters" in short.stderr
    prompted = hearth_typed("web", "set-password", "-c", str(config), typed=f"{PASSWORD}\n{PASSWORD}\n")
    assert prompted.returncode == 0, prompted.stderr
    assert "password set" in prompted.stdout


def test_url_names_the_address_to_open(tmp_path: Path) -> None:
    result = hearth("web", "url", "-c", str(_config(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "http://127.0.0.1:8751/"


def test_url_without_a_web_section_says_how_to_enable_it(tmp_path: Path) -> None:
    config = tmp_path / "plain.toml"
    config.write_text(f'[hub]\nid = "plain"\ndata_dir = "{tmp_path / "data"}"\n')
    result = hearth("web", "url", "-c", str(config))
    assert result.returncode == 2
    assert "web: the dashboard is not enabled" in result.stderr
    assert "[web]" in result.stderr


def test_no_password_means_no_listening_beyond_loopback(tmp_path: Path) -> None:
    config = _config(tmp_path, listen="0.0.0.0")
    for command in (("config", "check", str(config)), ("run", "-c", str(config))):
        result = hearth(*command)
        assert result.returncode == 2, (command, result.stderr)
        assert "web.listen" in result.stderr
        assert "no dashboard password is set" in result.stderr
        assert "hearth web set-password" in result.stderr
        assert "Traceback" not in result.stderr
    secret = tmp_path / "secret"
    secret.write_text(PASSWORD)
    assert hearth("web", "set-password", "-c", str(config), "--password-file", str(secret)).returncode == 0
    checked = hearth("config", "check", str(config))
    assert checked.returncode == 0, checked.stderr


def test_tls_files_must_be_absolute_and_loadable(tmp_path: Path) -> None:
    config = _config(tmp_path)
    base = config.read_text()
    config.write_text(base + 'tls_cert = "hub.crt"\ntls_key = "hub.key"\n')
    relative = hearth("config", "check", str(config))
    assert relative.returncode == 2
    assert "web.tls_cert: give both tls_cert and tls_key as absolute paths" in relative.stderr
    config.write_text(
        base + f'tls_cert = "{tmp_path / "missing.crt"}"\ntls_key = "{tmp_path / "missing.key"}"\n'
    )
    missing = hearth("config", "check", str(config))
    assert missing.returncode == 2
    assert "cannot load the certificate and key" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_a_taken_port_is_reported_without_a_traceback(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = _config(tmp_path)
        config.write_text(config.read_text().replace("port = 8751", f"port = {port}"))
        result = hearth("run", "-c", str(config))
    assert result.returncode == 1, result.stderr
    assert f"the dashboard cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "set web.port to a free one" in result.stderr
    assert "Traceback" not in result.stderr
