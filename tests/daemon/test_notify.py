"""sd_notify never waits: a notify socket that nobody reads costs dropped messages, never a stalled hub."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

import pytest

from agent.config import parse_config
from agent.daemon import Agent
from agent.daemon.systemd import SystemdNotifier
from agent.sources.simulated import SimulatedSource, load_table
from tests.conftest import Datagrams
from tests.testbed.wait import eventually

MESSAGES = 2000


def test_a_full_notify_socket_drops_and_counts_instead_of_blocking(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agent.daemon.systemd")
    notify = Datagrams(tmp_path / "notify.sock")  # bound, and never read until the end
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "notify.sock")})
    try:
        # In a thread: a blocking sendto would hang there, and the join below would say so.
        sender = threading.Thread(
            target=lambda: [notifier.status(f"message {i}") for i in range(MESSAGES)], daemon=True
        )
        sender.start()
        sender.join(30)
        assert not sender.is_alive(), "sd_notify blocked on a full socket"
        received = notify.drain()
        assert notifier.dropped > 0
        assert len(received) + notifier.dropped == MESSAGES
        assert received[0] == "STATUS=message 0"  # the queue keeps the first ones, as the kernel does
        ours = [r for r in caplog.records if r.name == "agent.daemon.systemd"]
        warnings = [r for r in ours if r.levelno == logging.WARNING]
        assert len(warnings) == 1  # logged once, not once per dropped message
        assert "its queue is full" in warnings[0].getMessage()

        # Read again, the socket takes messages again; the recovery is logged once, with the count.
        notifier.watchdog()
        assert notify.drain() == ["WATCHDOG=1"]
        ours = [r for r in caplog.records if r.name == "agent.daemon.systemd"]
        recovered = [r.getMessage() for r in ours if r.levelno == logging.INFO]
        assert recovered == [f"sd_notify works again; {notifier.dropped} messages dropped so far"]
    finally:
        notifier.close()
        notify.sock.close()


async def test_a_hub_whose_notify_socket_is_never_read_keeps_recording(tmp_path: Path) -> None:
    """If sendto blocked, the event loop would stop here and the test would hang until its timeout."""
    notify = Datagrams(tmp_path / "notify.sock")
    # A ping every 5 ms fills a queue nobody reads within moments.
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "10000"})
    config = parse_config(
        f'[hub]\nid = "t"\ndata_dir = "{tmp_path / "data"}"\n[store]\nflush_interval = "20ms"\n'
    )
    steady = SimulatedSource("steady", load_table("steady", "builtin:kettle_plug.csv"), rate=100)
    agent = Agent(config, sources=[steady], notifier=notifier)
    task = asyncio.create_task(agent.run())
    try:
        await eventually(lambda: notifier.dropped > 0, "the notify socket to fill up")
        committed = agent.recorder.committed
        await eventually(lambda: agent.recorder.committed > committed, "readings committed after that")
        assert agent.making_progress()
        dropped = notifier.dropped
        await eventually(lambda: notifier.dropped > dropped, "watchdog pings still sent (and dropped)")
        agent.stop()
        await asyncio.wait_for(task, 15)
    finally:
        if not task.done():
            task.cancel()
        notify.sock.close()
