"""The owner's CLI beside a running ``hearth run``, with a real Mosquitto and a subscriber on ``#``.

What the owner does while the hub runs reaches the hub and takes effect at once: a revoke made while the
broker is down lets nothing of that grant out when it comes back, a forgotten stream stops being recorded
and leaves nothing behind, ``sync status`` tells the truth, the audit log records every message the
broker received, and no process ends up holding a data file that was deleted under it.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from agent.control.wire import socket_path
from tests.conftest import hearth
from tests.store.test_one_owner import deleted_files_held
from tests.sync.conftest import Broker, Seen
from tests.testbed.wait import eventually

HUB = "owner-hub"


def write_config(tmp_path: Path, port: int) -> Path:
    config = tmp_path / "hub.toml"
    config.write_text(
        f"""
[hub]
id = "{HUB}"
data_dir = "{tmp_path / "data"}"

[log]
level = "warning"

[store]
flush_interval = "100ms"

[[sources]]
kind = "simulated"
name = "living_room"
file = "builtin:climate.csv"
rate = 5

[upstream]
host = "127.0.0.1"
port = {port}
tls = false
summarise_interval = "1s"
summary_lag = "1s"
"""
    )
    return config


async def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``hearth ARGS -c CONFIG`` as the owner would, off the event loop; fail on a non-zero exit."""
    wide = {"COLUMNS": "200"}  # so that tables show whole stream names
    done = await asyncio.to_thread(hearth, *args, "-c", str(config), env_extra=wide)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done


async def grant(config: Path, recipient: str) -> str:
    """Grant ``recipient`` one-second summaries of the living room's temperature; return the grant id."""
    done = await cli(
        config, "consent", "grant", "--recipient", recipient, "--purpose", "test",
        "--strand", "living_room.temperature", "--granularity", "summary:1s",
    )  # fmt: skip
    return done.stdout.split()[1].rstrip(":")


def ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)


async def test_the_cli_beside_a_running_hub_keeps_every_promise(
    tmp_path: Path, broker: Broker, subscriber: Seen
) -> None:
    config = write_config(tmp_path, broker.port)
    data_dir = tmp_path / "data"
    with (tmp_path / "hub.log").open("ab") as log:
        hub = subprocess.Popen(  # noqa: ASYNC220 - starting it takes no time; the hub runs beside the test
            [sys.executable, "-m", "agent", "run", "-c", str(config)], stdout=log, stderr=log
        )
    try:
        await subscriber.until(lambda: socket_path(data_dir).exists(), limit=30)
        await subscriber.until(lambda: any(m[1] == b"online" for m in subscriber.messages), limit=30)
        listed = await cli(config, "consent", "list")
        assert "no grants" in listed.stdout
        assert deleted_files_held(hub.pid) == []

        gid = await grant(config, "coop")
        await subscriber.until(lambda: any(m["grant"] == gid for m in subscriber.data()), limit=30)
        assert "connected" in (await cli(config, "sync", "status")).stdout

        broker.stop()
        await subscriber.until(lambda: not subscriber.ready.is_set())

        async def disconnected() -> bool:
            return "disconnected" in (await cli(config, "sync", "status")).stdout

        await eventually(disconnected, "sync status to say disconnected", 30, every=0.5)
        # Summaries keep being queued while the broker is away; the revoke purges them unsent.
        await asyncio.sleep(2.5)
        revoked = await cli(config, "consent", "revoke", gid)
        assert "0 queued messages purged" not in revoked.stdout, revoked.stdout
        revoked_at = time.time()
        before_outage = len(subscriber.data())

        forgot = await cli(config, "forget", "living_room.humidity")
        assert "erased living_room.humidity" in forgot.stdout
        broker.start()
        await asyncio.wait_for(subscriber.ready.wait(), 20)
        await subscriber.until(lambda: subscriber.messages[-1][1] == b"online", limit=30)
        # A new grant acts at once; the revoked one sends nothing more, ever.
        await grant(config, "other")
        await subscriber.until(
            lambda: any(f"/{HUB}/other/" in topic for topic, _, _ in subscriber.messages), limit=30
        )
        assert [m for m in subscriber.data()[before_outage:] if m.get("grant") == gid] == []
        assert all(m["start"] < revoked_at for m in subscriber.data() if m.get("grant") == gid)

        status = (await cli(config, "status")).stdout
        assert "living_room.humidity" not in status
        assert "living_room.temperature" in status
        assert deleted_files_held(hub.pid) == []
    finally:
        hub.send_signal(signal.SIGTERM)
        hub.wait(30)
    assert hub.returncode == 0, (tmp_path / "hub.log").read_text()

    readings = ro(data_dir / "readings.db")
    ledger = ro(data_dir / "ledger.db")
    try:
        assert readings.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert ledger.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        names = [n for (n,) in readings.execute("SELECT name FROM streams")]
        assert names == ["living_room.temperature"]
        (stray,) = readings.execute(
            "SELECT count(*) FROM readings WHERE stream_id NOT IN (SELECT id FROM streams)"
        ).fetchone()
        assert stray == 0
        published = {
            json.loads(detail)["seq"]
            for (detail,) in ledger.execute("SELECT detail FROM audit_log WHERE kind = 'publish'")
        }
    finally:
        readings.close()
        ledger.close()
    assert subscriber.seqs <= published  # every message the broker passed on is in the audit log
    assert "intact" in (await cli(config, "passport", "verify")).stdout
