"""Fixtures shared by every test area."""

from __future__ import annotations

import asyncio
import gc
import io
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

# The waits live in tests/testbed/wait.py; importing them from here keeps working.
from tests.testbed.wait import eventually, wait_until  # noqa: F401

REPO = Path(__file__).resolve().parent.parent


def hearth(
    *args: str, timeout: float = 60, env_extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real ``hearth`` command line in a subprocess and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "agent", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=REPO,
        env={**os.environ, **(env_extra or {})},
    )


# A test that hangs is stopped by pytest-timeout, whose report shows threads but not coroutines.
# Shortly before that, print every asyncio task's stack so the hang can be found from the log.
TASK_DUMP_AFTER = 100.0


def _dump_asyncio_tasks(nodeid: str) -> None:
    out = io.StringIO()
    out.write(f"\n==== {nodeid} still running after {TASK_DUMP_AFTER:.0f} s; asyncio tasks:\n")
    for obj in gc.get_objects():
        if isinstance(obj, asyncio.AbstractEventLoop) and obj.is_running():
            for task in asyncio.all_tasks(obj):
                out.write(f"---- {task.get_name()}: {task!r}\n")
                task.print_stack(file=out)
    sys.__stderr__.write(out.getvalue())
    sys.__stderr__.flush()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> object:
    timer = threading.Timer(TASK_DUMP_AFTER, _dump_asyncio_tasks, args=(item.nodeid,))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


@pytest.fixture
def hub_config(tmp_path: Path) -> Path:
    """A minimal valid hub config with one fast simulated source, data kept under tmp_path."""
    path = tmp_path / "hearth.toml"
    path.write_text(
        f"""
[hub]
id = "test-hub"
data_dir = "{tmp_path / "data"}"

[store]
flush_interval = "50ms"

[[sources]]
kind = "simulated"
name = "plug"
file = "builtin:kettle_plug.csv"
rate = 200
"""
    )
    return path


class Datagrams:
    """A real unix datagram socket standing in for systemd's notify socket."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.setblocking(False)

    async def next(self, within: float = 5.0) -> str:
        loop = asyncio.get_running_loop()
        data = await asyncio.wait_for(loop.sock_recv(self.sock, 4096), within)
        return data.decode()

    def drain(self) -> list[str]:
        messages = []
        while True:
            try:
                messages.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return messages
