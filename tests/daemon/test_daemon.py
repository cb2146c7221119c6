"""The daemon's lifecycle: graceful stop, supervised sources, systemd readiness and watchdog."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.config import parse_config
from agent.daemon import Agent
from agent.daemon.lifecycle import HubRunner
from agent.daemon.systemd import SystemdNotifier
from agent.pipeline.sink import OverflowPolicy, Sink
from agent.readings import Reading, StreamInfo
from agent.sources.simulated import SimulatedSource, load_table
from tests.conftest import REPO, Datagrams
from tests.testbed.wait import eventually, wait_until


def _count(db: Path) -> int:
    """Readings in ``db`` so far (0 before the agent has created it)."""
    try:
        conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    except sqlite3.OperationalError:
        return 0
    try:
        return int(conn.execute("SELECT count(*) FROM readings").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def test_sigterm_during_ingest_flushes_everything_and_exits_0(hub_config: Path, tmp_path: Path) -> None:
    db = tmp_path / "data" / "readings.db"
    with subprocess.Popen(
        [sys.executable, "-m", "agent", "run", "-c", str(hub_config)],
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        wait_until(lambda: _count(db) > 300, "readings to be committed")
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        proc.wait(timeout=15)
        took = time.monotonic() - started
        stderr = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == 0, stderr
    assert took < 12  # the stop_timeout bound (10 s) plus process exit; not a speed claim
    conn = sqlite3.connect(db)
    accepted, dropped = conn.execute(
        "SELECT accepted, dropped FROM source_health WHERE name = 'plug'"
    ).fetchone()
    stored = conn.execute("SELECT count(*) FROM readings").fetchone()[0]
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    assert dropped == 0
    assert stored == accepted  # everything the source handed over was committed before exit


class CrashingSource:
    """A source that delivers a few readings, then raises, every time it is started."""

    kind = "test"
    overflow: OverflowPolicy = "block"

    def __init__(self) -> None:
        self.name = "flaky"
        self.starts = 0
        self.info = StreamInfo.of("flaky", "x")

    async def run(self, sink: Sink) -> None:
        self.starts += 1
        sink.declare(self.info)
        await sink.put(Reading(self.info.name, time.time(), float(self.starts)))
        raise OSError("device unplugged")


def _config(tmp_path: Path, extra: str = "") -> str:
    return f'[hub]\nid = "t"\ndata_dir = "{tmp_path}"\n[store]\nflush_interval = "20ms"\n{extra}'


@pytest.fixture
async def steady_and_flaky(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[tuple[Agent, CrashingSource]]:
    caplog.set_level(logging.INFO, logger="agent.sources.supervisor")
    config = parse_config(_config(tmp_path))
    flaky = CrashingSource()
    steady = SimulatedSource("steady", load_table("steady", "builtin:kettle_plug.csv"), rate=100)
    agent = Agent(config, sources=[steady, flaky], health_every=0.05)
    for runner in agent.runners:
        runner.backoff.base = 0.01
        runner.backoff.cap = 0.05
    task = asyncio.create_task(agent.run())
    await agent.started.wait()
    yield agent, flaky
    agent.stop()
    await asyncio.wait_for(task, 15)


async def test_a_crashing_source_is_restarted_and_others_keep_recording(
    steady_and_flaky: tuple[Agent, CrashingSource], caplog: pytest.LogCaptureFixture
) -> None:
    agent, flaky = steady_and_flaky
    steady_runner, flaky_runner = agent.runners
    await eventually(lambda: flaky.starts >= 5, "five starts of the flaky source")
    before = steady_runner.sink.accepted
    await eventually(lambda: flaky.starts >= 8, "three more restarts")
    assert steady_runner.sink.accepted > before  # the steady source never stopped
    assert flaky_runner.restarts >= 7
    assert flaky_runner.last_error == "OSError: device unplugged"
    assert steady_runner.restarts == 0
    records = caplog.get_records("setup") + caplog.get_records("call")
    failures = [r for r in records if "failed, restarting" in r.getMessage()]
    assert len(failures) == 1  # logged once, not at every retry
    await agent.recorder.flush()
    assert agent.store.count_readings("flaky.x") >= 8


async def test_systemd_ready_and_watchdog_follow_real_progress(tmp_path: Path) -> None:
    notify = Datagrams(tmp_path / "notify.sock")
    try:
        await _watchdog_scenario(tmp_path, notify)
    finally:
        notify.sock.close()


async def _watchdog_scenario(tmp_path: Path, notify: Datagrams) -> None:
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "100000"})
    config = parse_config(_config(tmp_path / "data", '[daemon]\nstall_limit = "300ms"\n'))
    steady = SimulatedSource("steady", load_table("steady", "builtin:kettle_plug.csv"), rate=50)
    agent = Agent(config, sources=[steady], notifier=notifier)
    agent.store.conn.execute("PRAGMA busy_timeout = 10")
    task = asyncio.create_task(agent.run())
    assert await notify.next() == "READY=1"
    assert await notify.next() == "WATCHDOG=1"

    # Another process holds the readings file: nothing commits, so the pings must stop.
    blocker = sqlite3.connect(tmp_path / "data" / "readings.db", isolation_level=None, timeout=30)
    blocker.execute("BEGIN EXCLUSIVE")
    await eventually(lambda: not agent.making_progress(), "the stall to be noticed")
    notify.drain()
    await asyncio.sleep(0.3)  # several watchdog intervals pass while stalled
    assert "WATCHDOG=1" not in notify.drain()

    blocker.execute("COMMIT")
    blocker.close()
    # The recorder retries with backoff (capped at 5 s), so allow a few attempts.
    while (message := await notify.next(within=20)) != "WATCHDOG=1":
        pass
    assert message == "WATCHDOG=1"
    agent.stop()
    await asyncio.wait_for(task, 15)
    assert "STOPPING=1" in notify.drain()


class ConvertsCancellation:
    """A source whose library turns a cancellation into its own error, as aiomqtt and bleak can."""

    kind = "test"
    overflow: OverflowPolicy = "block"

    def __init__(self) -> None:
        self.name = "converter"
        self.started = asyncio.Event()

    async def run(self, sink: Sink) -> None:
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise OSError("connection closed while disconnecting") from None


async def test_a_source_that_converts_its_cancellation_still_stops(tmp_path: Path) -> None:
    source = ConvertsCancellation()
    agent = Agent(parse_config(_config(tmp_path)), sources=[source])
    task = asyncio.create_task(agent.run())
    await asyncio.wait_for(source.started.wait(), 10)
    agent.stop()
    await asyncio.wait_for(task, 15)
    runner = agent.runners[0]
    assert runner.last_error is None  # a stop request is not a failure to retry
    assert runner.restarts == 0


class LostCancellation:
    """A service whose inner task lost its cancellation and goes on until released.

    As a task awaiting ``asyncio.wait_for`` on Python 3.11 does when the reply arrives with the stop;
    the service's task group then waits for it and ignores every further cancellation.
    """

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self._stuck(), name="stuck-child")

    async def _stuck(self) -> None:
        self.started.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()
        await self.release.wait()


async def test_a_service_that_never_stops_is_abandoned_after_the_stop_timeout(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = parse_config(_config(tmp_path, '[daemon]\nstop_timeout = "1s"'))
    steady = SimulatedSource("steady", load_table("steady", "builtin:kettle_plug.csv"), rate=100)
    agent = Agent(config, sources=[steady])
    service = LostCancellation()
    agent.services["stuck"] = service.run
    task = asyncio.create_task(agent.run())
    try:
        await asyncio.wait_for(service.started.wait(), 10)
        await eventually(lambda: agent.recorder.committed > 0, "readings to be committed")
        agent.stop()
        done, _ = await asyncio.wait([task], timeout=30)
        assert task in done, "the stop waited for a service that never ends"
        task.result()
    finally:
        service.release.set()
    conn = sqlite3.connect(tmp_path / "readings.db")
    accepted = conn.execute("SELECT accepted FROM source_health WHERE name = 'steady'").fetchone()[0]
    stored = conn.execute("SELECT count(*) FROM readings").fetchone()[0]
    conn.close()
    assert stored == accepted  # the recorder was flushed before the service was given up
    [error] = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "task 'stuck' (LostCancellation.run)" in error
    assert "task 'stuck-child' (LostCancellation._stuck)" in error


async def test_a_restart_after_a_stop_that_abandoned_a_task_replaces_the_process(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "hearth.toml"
    path.write_text(_config(tmp_path, '[daemon]\nstop_timeout = "1s"'))
    service = LostCancellation()
    replaced = asyncio.Event()

    def add_stuck_service(agent: Agent) -> None:
        agent.services["stuck"] = service.run

    runner = HubRunner(path, on_agent=add_stuck_service, replace_process=replaced.set)
    task = asyncio.create_task(runner.run())
    try:
        await asyncio.wait_for(service.started.wait(), 10)
        assert runner.agent is not None
        runner.agent.restart()
        done, _ = await asyncio.wait([task], timeout=30)
        assert task in done, "the runner waited for a service that never ends"
        task.result()
    finally:
        service.release.set()
    assert replaced.is_set()  # a fresh process, not a second agent next to the stuck task
    assert runner.starts == 1
    assert any("restarting in a fresh process" in r.getMessage() for r in caplog.records)


def test_exec_self_starts_the_same_command_again_in_the_same_process() -> None:
    script = (
        "import os, sys\n"
        "from agent.daemon.lifecycle import exec_self\n"
        "print(os.getpid(), sys.argv[1:], flush=True)\n"
        "if 'HEARTH_TEST_AGAIN' not in os.environ:\n"
        "    os.environ['HEARTH_TEST_AGAIN'] = '1'\n"
        "    exec_self()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, "run", "-c", "x.toml"],
        capture_output=True, text=True, timeout=60, check=False, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    assert first == second  # the same PID, the same arguments
    assert first.endswith("['run', '-c', 'x.toml']")
