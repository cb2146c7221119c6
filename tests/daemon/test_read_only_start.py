"""A hub started on a read-only mount waits, tells systemd why, and starts once the mount is writable."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.daemon.lifecycle import HubRunner
from agent.daemon.systemd import SystemdNotifier
from tests.conftest import Datagrams
from tests.testbed.tmpfs import tmpfs
from tests.testbed.wait import eventually


@pytest.fixture
def read_only_disk(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "disk", "ro,size=4m") as mount:
        yield mount


async def _messages(notify: Datagrams, until: str) -> list[str]:
    """Notify messages up to and including the first that contains ``until``."""
    seen: list[str] = []
    while not seen or until not in seen[-1]:
        seen.append(await notify.next(within=10))
    return seen


async def test_a_hub_on_a_read_only_mount_waits_and_starts_once_writable(
    tmp_path: Path, read_only_disk: Path
) -> None:
    data_dir = read_only_disk / "data"
    config = tmp_path / "hearth.toml"
    config.write_text(
        f'[hub]\nid = "ro"\ndata_dir = "{data_dir}"\n[store]\nflush_interval = "20ms"\n'
        '[[sources]]\nkind = "simulated"\nname = "plug"\nfile = "builtin:kettle_plug.csv"\nrate = 50\n'
    )
    notify = Datagrams(tmp_path / "notify.sock")
    environ = {"NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "200000"}
    runner = HubRunner(config, notifier=SystemdNotifier(environ), storage_retry=0.2)
    task = asyncio.create_task(runner.run())
    try:
        first = await _messages(notify, "STATUS=")
        assert first[0] == "READY=1"  # no start timeout, so no restart by systemd
        assert first[-1] == (
            f"STATUS=not recording: the data folder {data_dir} is read-only (a disk the kernel remounted"
            " read-only after write errors is failing: replace the SD card); trying again every 0.2 s"
        )
        await _messages(notify, "WATCHDOG=1")  # a restart cannot help: the watchdog is pinged all the same
        await _messages(notify, "STATUS=not recording")  # and it tries again
        assert runner.agent is None
        assert not task.done()

        remount = ["mount", "-o", "remount,rw", str(read_only_disk)]
        await asyncio.to_thread(subprocess.run, remount, check=True)
        await eventually(lambda: runner.agent is not None and runner.agent.started.is_set(), "a start")
        agent = runner.agent
        assert agent is not None
        await eventually(lambda: agent.recorder.committed > 0, "readings committed")
        assert runner.waiting is None
    finally:
        runner.stop()
        await asyncio.wait_for(task, 15)
        notify.sock.close()


async def test_a_hub_waiting_on_a_read_only_mount_stops_at_once(tmp_path: Path, read_only_disk: Path) -> None:
    config = tmp_path / "hearth.toml"
    config.write_text(f'[hub]\nid = "ro"\ndata_dir = "{read_only_disk / "data"}"\n')
    notify = Datagrams(tmp_path / "notify.sock")
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "notify.sock")})
    # The next try an hour away: only the stop itself can end the wait before the deadline below.
    runner = HubRunner(config, notifier=notifier, storage_retry=3600)
    task = asyncio.create_task(runner.run())
    try:
        await _messages(notify, "STATUS=not recording")
        runner.stop()  # what SIGTERM does: no agent to stop, only the wait to end
        await asyncio.wait_for(task, 15)
        assert "STOPPING=1" in notify.drain()
    finally:
        notify.sock.close()
