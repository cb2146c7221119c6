"""One owner per data file: SQLite's locks survive a second connection, commands wait for a hub and the
other way round, and nothing outside ``agent/store`` opens a data file itself."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agent.config import config_from_mapping
from agent.control.client import call
from agent.control.wire import HubError, socket_path
from agent.daemon import Agent
from agent.errors import StoreError
from agent.store.ledger import LEDGER_FILE, open_ledger
from agent.store.lock import DataLock
from agent.store.readings import open_readings
from tests.conftest import REPO, hearth
from tests.testbed.wait import eventually


def deleted_files_held(pid: int) -> list[str]:
    """Data files (``*.db``, ``-wal``, ``-shm``) process ``pid`` holds open that were deleted under it."""
    held = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except FileNotFoundError:
            continue
        if target.endswith(" (deleted)") and ".db" in target:
            held.append(target)
    return held


def test_a_second_connection_keeps_the_first_ones_locks(tmp_path: Path) -> None:
    """Opening the ledger twice in one process (as the hub's layers do) must not drop SQLite's locks,
    or the next process to close the file deletes the WAL under this one."""
    first = open_ledger(tmp_path)
    first.execute("INSERT INTO meta VALUES ('k', 'v')")
    second = open_ledger(tmp_path)
    wal = tmp_path / f"{LEDGER_FILE}-wal"
    assert wal.exists()
    other = textwrap.dedent(
        f"""
        import sqlite3
        conn = sqlite3.connect({str(tmp_path / LEDGER_FILE)!r})
        conn.execute("SELECT count(*) FROM meta").fetchall()
        conn.close()
        """
    )
    subprocess.run([sys.executable, "-c", other], check=True, timeout=30)
    assert wal.exists(), "another process took this one's connections for gone and removed the WAL"
    assert deleted_files_held(os.getpid()) == []
    second.execute("INSERT INTO meta VALUES ('k2', 'v2')")
    assert first.execute("SELECT count(*) FROM meta").fetchone() == (2,)
    assert first.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    first.close()
    second.close()


def test_data_files_are_created_private(tmp_path: Path) -> None:
    open_readings(tmp_path).close()
    conn = open_ledger(tmp_path)
    conn.execute("INSERT INTO meta VALUES ('k', 'v')")
    for path in tmp_path.iterdir():
        assert path.stat().st_mode & 0o077 == 0, path
    conn.close()


def test_a_starting_hub_waits_for_a_command_and_gives_up_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = config_from_mapping({"hub": {"id": "h", "data_dir": str(tmp_path / "data")}})
    monkeypatch.setattr("agent.daemon.agent.LOCK_WAIT", 0.3)
    with DataLock(tmp_path / "data") as held:
        assert held.try_acquire()
        with pytest.raises(StoreError, match="in use by a hearth command"):
            Agent(config)
    assert not (tmp_path / "data" / "readings.db").exists()  # it opened nothing while waiting
    Agent(config)._close_files()


async def test_commands_reach_a_running_hub_through_its_socket(tmp_path: Path) -> None:
    config = config_from_mapping({"hub": {"id": "h", "data_dir": str(tmp_path / "data")}})
    agent = Agent(config)
    run = asyncio.create_task(agent.run())
    await agent.started.wait()
    path = socket_path(agent.data_dir)
    await eventually(path.exists, "the control socket")
    assert path.stat().st_mode & 0o777 == 0o600
    # While the hub runs, a command never opens the files: it could not take the lock anyway.
    assert not DataLock(agent.data_dir).try_acquire()
    choices = {"recipient": "coop", "purpose": "test", "granularity": "summary:1h"}
    # A mistake comes back with the input it is about, for the command to name as its option.
    with pytest.raises(HubError, match=r"no strand 'plug\.power' on this hub") as refused:
        await asyncio.to_thread(call, config, "consent.grant", strands=["plug.power"], **choices)
    assert refused.value.field == "strand"
    # A glob for a device to come is granted, with a warning that it names nothing yet.
    made = await asyncio.to_thread(call, config, "consent.grant", strands=["plug.*"], **choices)
    assert made["warnings"][0].startswith("plug.* names no strand on this hub yet")
    listed = await asyncio.to_thread(call, config, "consent.list")
    assert [s["grant"]["id"] for s in listed["grants"]] == [made["grant"]["id"]]
    agent.stop()
    await run
    assert not path.exists()
    # With the hub gone the same command works on the files, under the lock.
    listed = await asyncio.to_thread(call, config, "consent.list")
    assert [s["status"] for s in listed["grants"]] == ["active"]


async def test_an_unknown_action_or_wrong_arguments_are_clear_errors(tmp_path: Path) -> None:
    from agent.control.actions import perform
    from agent.control.client import LocalHub
    from agent.errors import AgentError

    config = config_from_mapping({"hub": {"id": "h", "data_dir": str(tmp_path / "data")}})
    with LocalHub(config) as hub:
        with pytest.raises(AgentError, match=r"does not know the action 'consent\.nothing'"):
            await perform(hub, "consent.nothing", {})
        with pytest.raises(AgentError, match=r"bad arguments for consent\.revoke"):
            await perform(hub, "consent.revoke", {"grant": "g-1"})
        assert (await perform(hub, "consent.list", {}))["grants"] == []


def test_cli_errors_from_the_hub_keep_their_message_and_exit_code(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text(f'[hub]\nid = "h"\ndata_dir = "{tmp_path / "data"}"\n')
    done = hearth("consent", "revoke", "g-nothing", "-c", str(config))
    assert done.returncode == 1
    assert "no grant 'g-nothing'" in done.stderr
    assert "Traceback" not in done.stderr


# -- no module outside agent/store opens a data file itself -------------------------------------------


# Text patterns, not the ast module: CPython 3.11.7 may fail an ast.parse while a worker thread compiles.
_CONNECT = re.compile(r"sqlite3\.connect\((?!\s*\":memory:\")")
_FILE_NAME = re.compile(r"[\"'][^\"'\n]*\.db(-wal|-shm)?[\"']|\b(LEDGER_FILE|READINGS_FILE)\b")


def _opens_files_itself(path: Path) -> list[str]:
    found = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if _CONNECT.search(line) or _FILE_NAME.search(line):
            found.append(f"{path}:{number}: {line.strip()}")
    return found


def test_no_module_outside_the_store_opens_a_data_file_by_path() -> None:
    store = REPO / "agent" / "store"
    offenders = [
        hit
        for path in sorted((REPO / "agent").rglob("*.py"))
        if store not in path.parents
        for hit in _opens_files_itself(path)
    ]
    assert offenders == []


def test_the_scan_finds_a_module_that_opens_a_data_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text('import sqlite3\nconn = sqlite3.connect(folder / name)\nname = "ledger.db"\n')
    assert len(_opens_files_itself(bad)) == 2
    bad.write_text('import sqlite3\nscratch = sqlite3.connect(":memory:")\n')
    assert _opens_files_itself(bad) == []
