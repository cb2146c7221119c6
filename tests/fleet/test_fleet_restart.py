"""Pushes that change what the running layers read once: applied by restarting, confirmed or rolled back."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import sqlite3
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fleet_support import (
    PLUG,
    allow_upstream,
    closed_port,
    model,
    push_to_hub,
    restarting,
    upstream,
    watching,
    write_hub,
)

from agent.config import load_config
from agent.fleet import files, history, startup
from agent.inference.pipeline import inference_of
from agent.store.ledger import open_ledger
from tests.conftest import REPO, Datagrams
from tests.testbed.wait import eventually

MODELS = REPO / "models"


def _stored(path: Path) -> int:
    conn = sqlite3.connect(path.parent / "data" / "readings.db")
    try:
        return int(conn.execute("SELECT count(*) FROM readings").fetchone()[0])
    finally:
        conn.close()


def _history(path: Path) -> tuple[list[tuple[int, str]], list[tuple[int, str, str]]]:
    conn = sqlite3.connect(path.parent / "data" / "ledger.db")
    try:
        applied = conn.execute("SELECT version, status FROM config_history ORDER BY version").fetchall()
        audit = conn.execute("SELECT version, outcome, reason FROM fleet_audit ORDER BY id").fetchall()
    finally:
        conn.close()
    return applied, audit


async def test_a_push_that_adds_a_model_restarts_the_hub_and_is_applied(
    tmp_path: Path, broker: int, fleet_key: Ed25519PrivateKey
) -> None:
    path = write_hub(tmp_path, "hub-a", key=fleet_key, port=broker)
    pushed = PLUG + model()
    async with watching(broker) as watcher, restarting(path) as hub:
        first = hub.agent
        await eventually(lambda: first.recorder.committed > 0, "readings committed before the push")
        await push_to_hub(broker, fleet_key, "hub-a", pushed, version=1)
        await watcher.wait_for(["hub-a"], "applied", 1)
        # The fleet saw the hub at work before the outcome.
        assert watcher.seen.index(("hub-a", "applying", 1)) < watcher.seen.index(("hub-a", "applied", 1))
        assert hub.runner.starts == 2
        assert hub.agent is not first
        assert inference_of(hub.agent) is not None
        assert watcher.reports["hub-a"].running_version == 1
        # The first agent stopped with nothing left behind: everything its source handed over was committed.
        handed_over = sum(runner.sink.accepted for runner in first.runners)
        assert handed_over > 0
        assert first.recorder.committed == handed_over
        applied = time.monotonic()
        await eventually(lambda: hub.readings_since(applied, "plug") > 0, "readings after the restart")
    assert [m.name for m in load_config(path).models] == ["appliance"]
    assert _stored(path) > handed_over  # the second agent added to what the first one kept
    assert _history(path)[0] == [(1, "applied")]


async def test_a_restarted_config_that_fails_its_health_check_is_rolled_back_by_a_second_restart(
    tmp_path: Path, broker: int, fleet_key: Ed25519PrivateKey
) -> None:
    away = closed_port(tmp_path / "away")
    path = write_hub(tmp_path, "hub-u", key=fleet_key, port=broker, allow=allow_upstream(away))
    original = path.read_text()
    async with watching(broker) as watcher, restarting(path) as hub:
        pushed = PLUG + upstream(away)
        await push_to_hub(broker, fleet_key, "hub-u", pushed, version=1)
        await watcher.wait_for(["hub-u"], "rolled_back", 1)
        reason = watcher.reports["hub-u"].reason
        assert reason.startswith("upstream connects: ")
        assert f"127.0.0.1:{away}" in reason
        assert watcher.reports["hub-u"].running_version == 0
        assert hub.runner.starts == 3  # provisioned, pushed, provisioned again
        assert hub.agent.config.upstream is None
        rolled_back = time.monotonic()
        await eventually(lambda: hub.readings_since(rolled_back, "plug") > 0, "readings after the rollback")
    assert path.read_text() == original
    assert _history(path)[0] == [(1, "rolled_back")]


async def test_a_source_failing_before_the_push_does_not_fail_a_restart_push_that_leaves_it_alone(
    tmp_path: Path, broker: int, fleet_key: Ed25519PrivateKey
) -> None:
    unplugged = '\n[[sources]]\nkind = "serial"\nname = "bench"\nport = "/dev/hearth-no-such-board"\n'
    path = write_hub(tmp_path, "hub-b", key=fleet_key, port=broker, sources=PLUG + unplugged)
    async with watching(broker) as watcher, restarting(path) as hub:
        await push_to_hub(broker, fleet_key, "hub-b", PLUG + unplugged + model(), version=1)
        await watcher.wait_for(["hub-b"], "applied", 1)
        assert inference_of(hub.agent) is not None
        bench = hub.agent.source_runner("bench")
        assert bench is not None
        assert bench.sink.accepted == 0  # still unplugged: not this push's doing


async def test_a_config_file_the_owner_edits_during_the_confirmation_window_is_kept(
    tmp_path: Path, broker: int, fleet_key: Ed25519PrivateKey, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agent.fleet.service")
    away = closed_port(tmp_path / "away")
    path = write_hub(
        tmp_path, "hub-w", key=fleet_key, port=broker, confirm_window="5s", allow=allow_upstream(away)
    )
    async with watching(broker) as watcher, restarting(path) as hub:
        await push_to_hub(broker, fleet_key, "hub-w", PLUG + upstream(away), version=1)
        await eventually(
            lambda: any("confirming config v1" in r.getMessage() for r in caplog.records),
            "the restarted hub to start confirming the push",
        )
        # While it confirms, the restarted hub is back online and tells the fleet it is applying v1.
        await eventually(
            lambda: watcher.links.get("hub-w") == "online" and watcher.state("hub-w") == ("applying", 1),
            "the hub online and applying during the confirmation window",
        )
        edited = path.read_text().replace('confirm_window = "5s"', 'confirm_window = "4s"')
        assert edited != path.read_text()
        path.write_text(edited)  # the owner, at work while the hub confirms the push
        await watcher.wait_for(["hub-w"], "rolled_back", 1)
        assert watcher.reports["hub-w"].reason.startswith("upstream connects: ")
        await eventually(lambda: hub.runner.starts == 3, "the restart with the owner's file")
        assert hub.agent.config.fleet is not None
        assert hub.agent.config.fleet.confirm_window == "4s"
    assert path.read_text() == edited


async def test_a_pushed_model_that_does_not_load_is_rolled_back_before_it_runs(
    tmp_path: Path, broker: int, fleet_key: Ed25519PrivateKey
) -> None:
    tampered = tmp_path / "tampered-model"
    tampered.mkdir()
    shutil.copy(MODELS / "appliance" / "card.json", tampered)
    (tampered / "model.tflite").write_bytes(b"\x00not a flatbuffer\x00" * 64)
    path = write_hub(tmp_path, "hub-t", key=fleet_key, port=broker)
    original = path.read_text()
    async with watching(broker) as watcher, restarting(path) as hub:
        pushed = PLUG + model(str(tampered))
        await push_to_hub(broker, fleet_key, "hub-t", pushed, version=2)
        await watcher.wait_for(["hub-t"], "rolled_back", 2)
        reason = watcher.reports["hub-t"].reason
        assert reason.startswith("does not start: ")
        assert "models[0].model" in reason
        assert hub.runner.starts == 2  # the tampered config never got as far as running
        assert inference_of(hub.agent) is None
        rolled_back = time.monotonic()
        await eventually(lambda: hub.readings_since(rolled_back, "plug") > 0, "readings after the rollback")
    assert path.read_text() == original


async def test_a_pushed_config_that_crashes_the_agent_is_rolled_back(
    tmp_path: Path, broker: int, fleet_key: Ed25519PrivateKey
) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    path = write_hub(tmp_path, "hub-c", key=fleet_key, port=broker)
    original = path.read_text()
    try:
        async with watching(broker) as watcher, restarting(path) as hub:
            pushed = PLUG + f"\n[web]\nport = {port}\n"
            await push_to_hub(broker, fleet_key, "hub-c", pushed, version=1)
            await watcher.wait_for(["hub-c"], "rolled_back", 1)
            reason = watcher.reports["hub-c"].reason
            assert reason.startswith(f"does not start: the dashboard cannot listen on 127.0.0.1:{port}")
            assert hub.agent.config.web is None
            await eventually(
                lambda: hub.runner.agent is not None and hub.runner.agent.started.is_set(),
                "the previous config to run again",
            )
    finally:
        taken.close()
    assert path.read_text() == original


def _leave_pending(path: Path, *, version: int) -> str:
    """What a hub leaves behind when it dies right after installing a push: return the installed text."""
    config = load_config(path)
    text = files.render(config, version=version)
    ledger = open_ledger(path.parent / "data")
    try:
        history.begin(ledger, version, hashlib.sha256(text.encode()).hexdigest(), text)
    finally:
        ledger.close()
    files.install(path, text)
    return text


def test_a_pushed_config_that_never_confirms_is_rolled_back_after_three_starts(
    tmp_path: Path, fleet_key: Ed25519PrivateKey
) -> None:
    path = write_hub(tmp_path, "hub-l", key=fleet_key, port=1)
    original = path.read_text()
    _leave_pending(path, version=4)
    limit = startup.MAX_UNCONFIRMED_STARTS
    assert [startup.count_start(load_config(path), path) for _ in range(limit)] == [False] * limit
    assert startup.count_start(load_config(path), path) is True
    assert path.read_text() == original
    applied, audit = _history(path)
    assert applied == [(4, "rolled_back")]
    assert audit == [(4, "rolled_back", f"not confirmed after {limit} starts (crash loop)")]


async def test_a_hub_killed_before_every_confirmation_rolls_the_push_back_on_its_fourth_start(
    tmp_path: Path, broker: int, fleet_key: Ed25519PrivateKey
) -> None:
    path = write_hub(tmp_path, "hub-k", key=fleet_key, port=broker, confirm_window="60s")
    original = path.read_text()
    environ = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}

    async def start(n: int) -> tuple[asyncio.subprocess.Process, Path]:
        log = tmp_path / f"start-{n}.log"
        with log.open("w") as stderr:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "agent", "run", "-c", str(path), cwd=REPO, env=environ, stderr=stderr
            )
        return proc, log

    async def kill_once_confirming(proc: asyncio.subprocess.Process, log: Path) -> None:
        try:
            await eventually(lambda: "confirming config v1" in log.read_text(), "confirming", within=60)
        finally:
            proc.kill()  # a crash, as systemd would see it: restarted, still unconfirmed
            await proc.wait()

    async with watching(broker) as watcher:
        proc, log = await start(1)
        await watcher.wait_for(["hub-k"], "provisioned", None, within=60)
        await push_to_hub(broker, fleet_key, "hub-k", PLUG + '\n[log]\nlevel = "debug"\n', version=1)
        await kill_once_confirming(proc, log)  # start 1 with the pushed config: the restart in-process
        for n in (2, 3):
            await kill_once_confirming(*await start(n))
        proc, log = await start(4)
        try:
            await watcher.wait_for(["hub-k"], "rolled_back", 1, within=60)
            limit = startup.MAX_UNCONFIRMED_STARTS
            assert watcher.reports["hub-k"].reason == f"not confirmed after {limit} starts (crash loop)"
            assert path.read_text() == original
        finally:
            proc.send_signal(signal.SIGTERM)
            await proc.wait()
    assert proc.returncode == 0, log.read_text()


def test_a_config_file_the_owner_edited_since_the_push_is_never_rolled_back(
    tmp_path: Path, fleet_key: Ed25519PrivateKey
) -> None:
    path = write_hub(tmp_path, "hub-e", key=fleet_key, port=1)
    text = _leave_pending(path, version=2)
    edited = text.replace('level = "info"', 'level = "debug"')
    assert edited != text
    path.write_text(edited)
    for _ in range(startup.MAX_UNCONFIRMED_STARTS + 2):
        assert startup.count_start(load_config(path), path) is False
    assert startup.roll_back_failed_start(path, RuntimeError("boom")) is False
    assert path.read_text() == edited
    assert _history(path)[0] == [(2, "applying")]


async def test_hearth_run_applies_a_restart_push_in_the_same_process_and_tells_systemd(
    tmp_path: Path, broker: int, fleet_key: Ed25519PrivateKey
) -> None:
    path = write_hub(tmp_path, "hub-s", key=fleet_key, port=broker)
    notify = Datagrams(tmp_path / "notify.sock")
    environ = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
    log = tmp_path / "stderr.log"
    async with watching(broker) as watcher:
        with log.open("w") as stderr:
            proc = await asyncio.create_subprocess_exec(
                *[sys.executable, "-m", "agent", "run", "-c", str(path)],
                cwd=REPO,
                env={**environ, "NOTIFY_SOCKET": str(tmp_path / "notify.sock")},
                stderr=stderr,
            )
        try:
            await watcher.wait_for(["hub-s"], "provisioned", None, within=60)
            assert await notify.next(within=30) == "READY=1"
            pushed = PLUG + '\n[log]\nlevel = "debug"\n'
            await push_to_hub(broker, fleet_key, "hub-s", pushed, version=1)
            await watcher.wait_for(["hub-s"], "applied", 1, within=60)
            assert proc.returncode is None  # the same process throughout
            # In order, leaving out the STATUS lines the health loop sends every few seconds.
            states = [m for m in notify.drain() if not m.startswith("STATUS=")]
            assert states[0].startswith("RELOADING=1\n")
            assert "READY=1" in states[1:]
            assert "STOPPING=1" not in states
        finally:
            proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(30):
                await proc.wait()
            notify.sock.close()
    output = log.read_text()
    assert proc.returncode == 0, output
    assert "restarting from" in output
    # After the restart the pushed [log] section is in force (JSON lines: stderr is not a terminal).
    lines = [json.loads(line) for line in output.splitlines() if line.startswith('{"')]
    assert any(entry["level"] == "debug" for entry in lines)
