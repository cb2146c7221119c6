"""A full disk and a read-only remount under a real ``hearth run``: it keeps running, says why, resumes.

The disk fills on a small tmpfs; the read-only remount (what the kernel does after SD write errors)
happens on the power-cut rig, since a real ``remount,ro`` is refused while files are open for writing.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from agent.consent.ledger import verify_audit
from agent.errors import DiskFullError
from agent.fleet import history as fleet_history
from agent.intents import ledger as intents_ledger
from agent.store.ledger import open_ledger
from agent.store.readings import open_readings
from tests.conftest import REPO, Datagrams
from tests.intents.test_market import publish_all
from tests.sync.conftest import Broker
from tests.testbed.lazyfs import LazyMount
from tests.testbed.tmpfs import tmpfs
from tests.testbed.wait import eventually, wait_until
from tests.web.web_support import client, csrf_of, login, serve

GRANT = ("consent", "grant", "--recipient", "coop", "--purpose", "test", "--strand", "room0.*",
         "--granularity", "summary:1h")  # fmt: skip


def _config(path: Path, data_dir: Path, rate: int = 200, extra: str = "") -> Path:
    """A hub config of four simulated rooms under ``data_dir``, with ``extra`` sections after them."""
    rooms = "".join(
        f'[[sources]]\nkind = "simulated"\nname = "room{i}"\nfile = "builtin:climate.csv"\nrate = {rate}\n'
        'overflow = "drop_oldest"\n'
        for i in range(4)
    )
    path.write_text(
        f'[hub]\nid = "fault-hub"\ndata_dir = "{data_dir}"\n'
        '[store]\nflush_interval = "250ms"\nqueue_size = 100\n[log]\nlevel = "info"\n'
        '[daemon]\nstall_limit = "1s"\n' + rooms + extra
    )
    return path


class Hub:
    """A ``hearth run`` with a notify socket standing in for systemd."""

    def __init__(self, config: Path, tmp_path: Path) -> None:
        self.config = config
        self.notify = Datagrams(tmp_path / "notify.sock")
        self.log = tmp_path / "hub.log"
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "agent", "run", "-c", str(config)],
                stdout=out,
                stderr=out,
                cwd=REPO,
                env={**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "400000"},
            )
        self.messages: list[str] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._collect, daemon=True)
        self._reader.start()

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "agent", *args, "-c", str(self.config)],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=60,
            check=False,
        )

    def status(self) -> str:
        done = self.cli("status")
        assert self.proc.poll() is None, f"the hub exited: {self.log.read_text()[-2000:]}"
        # Until the hub has made its files, status says so and fails: the callers wait for more.
        return " ".join((done.stdout if done.returncode == 0 else done.stderr).split())

    def _collect(self) -> None:
        # Read at once, as systemd does: a unix datagram queue holds only ~10 messages, and a hub whose
        # notifications are not read drops the rest (tests/daemon/test_notify.py).
        self.notify.sock.setblocking(True)
        while True:
            try:
                message = self.notify.sock.recv(4096).decode()
            except OSError:
                return
            with self._lock:
                self.messages.append(message)

    def systemd_status(self) -> str:
        with self._lock:
            statuses = [m for m in self.messages if m.startswith("STATUS=")]
        return statuses[-1] if statuses else ""

    def pings(self) -> int:
        """Watchdog pings so far."""
        with self._lock:
            return sum("WATCHDOG=1" in m for m in self.messages)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(30) == 0, self.log.read_text()[-2000:]
        self.notify.sock.shutdown(socket.SHUT_RDWR)
        self.notify.sock.close()
        self._reader.join(5)


def _dropped(status: str) -> int:
    match = re.search(r"(\d+) dropped", status)
    assert match, status
    return int(match.group(1))


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "small", "size=2m") as mount:
        yield mount


def _fill(folder: Path) -> Path:
    """Fill the disk under ``folder`` to the last byte (a few bytes left would still open a file)."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as out:
        for chunk in (65536, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    out.write(b"\0" * chunk)
    return filler


def _grants(data_dir: Path) -> int:
    conn = sqlite3.connect(f"{(data_dir / 'ledger.db').as_uri()}?mode=ro", uri=True)
    try:
        assert verify_audit(conn) == []
        return int(conn.execute("SELECT count(*) FROM grants").fetchone()[0])
    finally:
        conn.close()


def test_a_full_disk_stops_commits_cleanly_and_the_hub_resumes(tmp_path: Path, small_disk: Path) -> None:
    data_dir = small_disk / "data"
    hub = Hub(_config(tmp_path / "hearth.toml", data_dir), tmp_path)
    try:
        wait_until(lambda: "hub running" in hub.status() and hub.proc.poll() is None, "the hub to record")
        filler = _fill(small_disk)
        wait_until(lambda: "NOT COMMITTING READINGS" in hub.status(), "status to say commits stopped")
        status = hub.status()
        assert "the disk is full" in status
        wait_until(lambda: _dropped(hub.status()) > 0, "the drop_oldest policy to drop readings")
        wait_until(lambda: "not committing readings: the disk is full" in hub.systemd_status(), "STATUS=")
        # Stalled far past stall_limit, yet systemd is still pinged: a restart cannot free the disk.
        pinged = hub.pings()
        wait_until(lambda: hub.pings() > pinged, "the watchdog to be pinged while the disk is full")
        refused = hub.cli(*GRANT)
        assert refused.returncode == 1
        assert "cannot write its data files: the disk is full" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert _grants(data_dir) == 0  # no half-written grant
        filler.unlink()
        wait_until(lambda: "hub running" in hub.status(), "the hub to commit again by itself")
        assert hub.cli(*GRANT).returncode == 0
        assert _grants(data_dir) == 1
        wait_until(lambda: "readings committed" in hub.systemd_status(), "STATUS= to recover")
    finally:
        hub.stop()
    assert "Traceback" not in hub.log.read_text()


def test_a_read_only_remount_is_reported_and_survived(tmp_path: Path, rig: LazyMount) -> None:
    data_dir = rig.mountpoint / "data"
    config = _config(tmp_path / "hearth.toml", data_dir)
    hub = Hub(config, tmp_path)
    try:
        wait_until(lambda: "hub running" in hub.status(), "the hub to record")
        rig.set_readonly(True)
        wait_until(lambda: "NOT COMMITTING READINGS" in hub.status(), "status to say commits stopped")
        assert f"the data folder {data_dir} is read-only" in hub.status()
        wait_until(lambda: "is read-only" in hub.systemd_status(), "STATUS= to say why")
        refused = hub.cli(*GRANT)
        assert refused.returncode == 1
        assert "is read-only" in refused.stderr
        rig.set_readonly(False)
        wait_until(lambda: "hub running" in hub.status(), "the hub to commit again by itself")
    finally:
        hub.stop()
    assert "Traceback" not in hub.log.read_text()


def test_a_hub_started_on_a_read_only_folder_waits_says_why_and_starts_when_writable(
    tmp_path: Path, rig: LazyMount
) -> None:
    data_dir = rig.mountpoint / "data"
    config = _config(tmp_path / "hearth.toml", data_dir)
    (tmp_path / "first").mkdir()
    first = Hub(config, tmp_path / "first")
    try:
        wait_until(lambda: "hub running" in first.status(), "the hub to record")
    finally:
        first.stop()
    # The kernel remounted the card read-only, and the box rebooted: systemd starts the hub on it.
    rig.set_readonly(True)
    hub = Hub(config, tmp_path)
    try:
        _waits_and_says(hub, f"the data folder {data_dir} is read-only")
        rig.set_readonly(False)
        wait_until(lambda: "hub running" in hub.status(), "the hub to start by itself")
        wait_until(lambda: "readings committed" in hub.systemd_status(), "STATUS= to say it records")
    finally:
        hub.stop()
    log = hub.log.read_text()
    assert "Traceback" not in log
    assert log.count("cannot start: the data folder") == 1, log  # logged once, not at every try
    assert "writable again: starting" in log


def _statuses(hub: Hub) -> list[str]:
    with hub._lock:
        return [m for m in hub.messages if m.startswith("STATUS=")]


def _waits_and_says(hub: Hub, why: str) -> None:
    """``hub``, started where it cannot write, says ``why`` to systemd and the owner and waits, pinged."""
    wait_until(lambda: why in hub.systemd_status(), "STATUS= to say why")
    assert f"not recording: {why}" in hub.systemd_status()
    with hub._lock:
        assert "READY=1" in hub.messages  # started, as systemd sees it: no start timeout, no restart
    pinged = hub.pings()
    wait_until(lambda: hub.pings() > pinged, "the watchdog to be pinged while it waits")
    wait_until(lambda: len(_statuses(hub)) >= 2, "a second try")
    assert hub.proc.poll() is None
    done = hub.cli("status")
    assert f"NOT RECORDING: {why}" in " ".join(done.stdout.split())
    assert done.returncode == 0, done.stderr  # the line says it all, even with no file made yet
    assert "Traceback" not in done.stderr
    refused = hub.cli(*GRANT)
    assert refused.returncode == 1
    assert why in refused.stderr
    assert "Traceback" not in refused.stderr


async def test_the_dashboard_says_readings_are_not_stored_while_the_disk_is_full(small_disk: Path) -> None:
    async with serve(small_disk) as served, client() as http:
        assert await login(http, served.url) == 303
        async with http.get(f"{served.url}/") as page:
            assert 'Storing readings</span><span data-stat="storing">yes<' in await page.text()
        filler = _fill(small_disk)
        recorder = served.agent.recorder
        await eventually(lambda: recorder.store_error is not None, "a commit to fail", within=20)
        async with http.get(f"{served.url}/") as page:
            assert ": the disk is full; retrying" in await page.text()
        filler.unlink()
        await eventually(lambda: recorder.store_error is None, "commits to resume", within=20)


async def test_an_owner_action_on_the_dashboard_while_the_disk_is_full_says_why_and_works_once_there_is_room(
    small_disk: Path,
) -> None:
    async with serve(small_disk) as served, client() as http:
        assert await login(http, served.url) == 303
        form = {"csrf": await csrf_of(http, served.url), "recipient": "coop", "purpose": "test",
                "strands": "tank.level", "granularity": "summary:1h"}  # fmt: skip
        filler = _fill(small_disk)
        await eventually(lambda: served.agent.recorder.store_error is not None, "a commit to fail", within=20)
        async with http.post(f"{served.url}/consent/grants", data=form, allow_redirects=False) as page:
            text = await page.text()
            assert page.status == 400, text
            assert "the hub cannot write its data files: the disk is full" in text
        assert _grants(small_disk / "data") == 0
        filler.unlink()
        async with http.post(f"{served.url}/consent/grants", data=form, allow_redirects=False) as page:
            assert page.status == 303, await page.text()
        assert _grants(small_disk / "data") == 1


async def test_a_passport_export_from_the_dashboard_on_a_full_disk_says_why_and_works_once_there_is_room(
    small_disk: Path,
) -> None:
    """The dashboard writes the archive in the data folder before it streams it: on a full disk the page
    says so, and nothing of the attempt is left behind."""
    async with serve(small_disk) as served, client() as http:
        assert await login(http, served.url) == 303
        form = {"csrf": await csrf_of(http, served.url)}
        filler = _fill(small_disk)
        await eventually(lambda: served.agent.recorder.store_error is not None, "a commit to fail", within=20)
        async with http.post(f"{served.url}/passport/export", data=form) as page:
            text = await page.text()
            assert page.status == 507, text
            assert "cannot write the passport archive: the disk is full" in text
        assert not list((small_disk / "data").glob(".passport-*"))
        filler.unlink()
        async with http.post(f"{served.url}/passport/export", data=form) as page:
            assert page.status == 200
            assert page.headers["Content-Type"] == "application/zip"
            assert len(await page.read()) > 0


def _readings(data_dir: Path) -> int:
    conn = sqlite3.connect(f"{(data_dir / 'readings.db').as_uri()}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM readings").fetchone()[0])
    finally:
        conn.close()


@pytest.mark.parametrize("on_file", [False, True], ids=["new-folder", "files-on-file"])
def test_a_hub_started_on_a_full_disk_waits_says_why_and_starts_when_there_is_room(
    tmp_path: Path, small_disk: Path, on_file: bool
) -> None:
    data_dir = small_disk / "data"
    config = _config(tmp_path / "hearth.toml", data_dir)
    recorded = grants = 0
    if on_file:
        (tmp_path / "first").mkdir()
        first = Hub(config, tmp_path / "first")
        try:
            wait_until(lambda: "hub running" in first.status(), "the hub to record")
            assert first.cli(*GRANT).returncode == 0
        finally:
            first.stop()
        recorded, grants = _readings(data_dir), _grants(data_dir)
        assert recorded > 0
        assert grants == 1
    # The disk filled up while the hub was stopped (or before its first start): systemd starts it on it.
    filler = _fill(small_disk)
    hub = Hub(config, tmp_path)
    try:
        _waits_and_says(hub, f"the disk of the data folder {data_dir} is full")
        filler.unlink()
        wait_until(lambda: "hub running" in hub.status(), "the hub to start by itself")
        wait_until(lambda: "readings committed" in hub.systemd_status(), "STATUS= to say it records")
    finally:
        hub.stop()
    log = hub.log.read_text()
    assert "Traceback" not in log
    assert log.count("cannot start: the disk of the data folder") == 1, log  # logged once, not at every try
    assert "writable again: starting" in log
    assert _readings(data_dir) > recorded  # what was on file is still there, and more came
    assert _grants(data_dir) == grants


def test_a_hub_stopped_on_a_full_disk_exits_cleanly_and_waits_for_room_at_its_next_start(
    tmp_path: Path, small_disk: Path
) -> None:
    data_dir = small_disk / "data"
    config = _config(tmp_path / "hearth.toml", data_dir)
    (tmp_path / "first").mkdir()
    first = Hub(config, tmp_path / "first")
    try:
        wait_until(lambda: "hub running" in first.status(), "the hub to record")
        # "hub running" comes before the first commit: the disk fills once readings are on file.
        wait_until(lambda: _readings(data_dir) > 0, "readings on file")
        filler = _fill(small_disk)
        wait_until(lambda: "NOT COMMITTING READINGS" in first.status(), "status to say commits stopped")
        acknowledged = _readings(data_dir)
        assert acknowledged > 0
    finally:
        first.stop()  # systemd stops it (a reboot, an upgrade) while the disk is still full: exit 0
    log = first.log.read_text()
    assert "Traceback" not in log
    assert "readings not stored" in log  # the ones never acknowledged, said once
    hub = Hub(config, tmp_path)
    try:
        wait_until(lambda: "is full" in hub.systemd_status(), "STATUS= to say why")
        filler.unlink()
        wait_until(lambda: "hub running" in hub.status(), "the hub to start by itself")
    finally:
        hub.stop()
    assert "Traceback" not in hub.log.read_text()
    assert _readings(data_dir) > acknowledged  # no acknowledged reading lost, and recording again


@pytest.mark.parametrize("label", ["readings", "ledger"])
def test_a_data_file_that_has_no_room_to_open_says_the_disk_is_full(small_disk: Path, label: str) -> None:
    opener = {"readings": open_readings, "ledger": open_ledger}[label]
    on_file, fresh = small_disk / "data", small_disk / "fresh"
    opener(on_file).close()
    filler = _fill(small_disk)
    # SQLite says "database or disk is full" making a new file, and "disk I/O error" when it cannot grow
    # the shared-memory index of one on file: both are a full disk, and nothing else is wrong with the file.
    for folder in (fresh, on_file):
        with pytest.raises(DiskFullError, match=f"the disk of the data folder {folder} is full") as raised:
            opener(folder).close()
        assert "move it aside" not in str(raised.value)
    filler.unlink()
    opener(fresh).close()
    opener(on_file).close()


class Upstream:
    """A subscriber on the hub's topics at the test broker, noting every message's topic."""

    def __init__(self, port: int) -> None:
        self.topics: list[str] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_message = lambda _c, _u, message: self.topics.append(message.topic)
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("hearth/v1/fault-hub/#", qos=1)
        self.client.loop_start()

    def summaries(self) -> int:
        return sum("/coop/" in topic for topic in list(self.topics))  # the grant's recipient

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _summarising_hub(tmp_path: Path, data_dir: Path, broker: Broker, upstream: Upstream) -> Hub:
    """A slow hub on ``data_dir`` whose first 10 s summary under a grant has reached ``upstream``."""
    # A tenth of the readings: the hub's own files must leave room on the 2 MB disk once the filler goes.
    config = _config(
        tmp_path / "hearth.toml", data_dir, rate=20,
        extra=f'[upstream]\nhost = "127.0.0.1"\nport = {broker.port}\ntls = false\n'
        'summarise_interval = "200ms"\nsummary_lag = "1s"\n',
    )  # fmt: skip
    hub = Hub(config, tmp_path)
    try:
        wait_until(lambda: "hub running" in hub.status(), "the hub to record")
        assert hub.cli(*GRANT[:-1], "summary:10s").returncode == 0
        wait_until(lambda: upstream.summaries() > 0, "a first summary upstream", within=60)
    except BaseException:
        hub.stop()
        upstream.close()
        raise
    return hub


def test_a_full_disk_pauses_the_summaries_and_they_go_on_once_there_is_room(
    tmp_path: Path, small_disk: Path, broker: Broker
) -> None:
    data_dir = small_disk / "data"
    upstream = Upstream(broker.port)
    hub = _summarising_hub(tmp_path, data_dir, broker, upstream)
    try:
        filler = _fill(small_disk)
        wait_until(lambda: "NOT COMMITTING READINGS" in hub.status(), "status to say commits stopped")
        # A summary window closes every 10 s: the summariser has had one to write once it says it cannot.
        paused = "summaries paused: the disk is full; they catch up once the hub can write"
        wait_until(lambda: paused in hub.log.read_text(), "the summariser to say why it stopped", within=60)
        pinged = hub.pings()
        wait_until(lambda: hub.pings() > pinged + 5, "a few more passes on a full disk")
        filler.unlink()
        wait_until(lambda: "hub running" in hub.status(), "the hub to commit again by itself")
        published = upstream.summaries()
        wait_until(lambda: upstream.summaries() > published, "summaries to go on", within=60)
    finally:
        hub.stop()
        upstream.close()
    log = hub.log.read_text()
    assert "Traceback" not in log
    # Said once, and the recovery once: not at every pass (five a second here).
    assert log.count("summaries paused") == 1, log
    assert log.count("summarising again") == 1, log


def test_the_broker_going_away_while_the_disk_is_full_pauses_upstream_and_it_goes_on_once_there_is_room(
    tmp_path: Path, small_disk: Path, broker: Broker
) -> None:
    """Losing the link writes the publisher's state to the ledger, and so does connecting again: on a full
    disk both fail. The publisher says why and keeps trying; it must not end (nothing would send again)."""
    data_dir = small_disk / "data"
    upstream = Upstream(broker.port)
    hub = _summarising_hub(tmp_path, data_dir, broker, upstream)
    try:
        upstream.close()
        filler = _fill(small_disk)
        wait_until(lambda: "NOT COMMITTING READINGS" in hub.status(), "status to say commits stopped")
        broker.stop()
        broker.start()
        paused = "upstream paused: the disk is full"
        wait_until(lambda: paused in hub.log.read_text(), "the publisher to say why it paused", within=60)
        filler.unlink()
        wait_until(lambda: "hub running" in hub.status(), "the hub to commit again by itself")
        upstream = Upstream(broker.port)
        wait_until(lambda: upstream.summaries() > 0, "summaries upstream again", within=60)
    finally:
        hub.stop()
        upstream.close()
    assert "Traceback" not in hub.log.read_text()


def _forecasts(data_dir: Path) -> int:
    conn = sqlite3.connect(f"{(data_dir / 'readings.db').as_uri()}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM streams WHERE name LIKE 'forecast.%'").fetchone()[0])
    finally:
        conn.close()


def test_a_hub_stopped_on_a_full_disk_with_forecasters_exits_cleanly_and_says_their_state_was_not_saved(
    tmp_path: Path, small_disk: Path
) -> None:
    """The forecasters save their state when the hub closes its files: on a full disk that must not fail
    the stop (systemd would count a failure); the next start learns from the history after the last save."""
    data_dir = small_disk / "data"
    config = _config(
        tmp_path / "hearth.toml", data_dir, rate=20,
        extra='[prediction]\nstreams = ["room0.temperature"]\nstep = "3s"\n'
        'horizons = ["3s"]\nanomaly_min_duration = "3s"\nbattery = false\n',
    )  # fmt: skip
    hub = Hub(config, tmp_path)
    try:
        wait_until(lambda: "hub running" in hub.status(), "the hub to record")
        wait_until(lambda: _forecasts(data_dir) > 0, "a first forecast", within=60)
        filler = _fill(small_disk)
        wait_until(lambda: "NOT COMMITTING READINGS" in hub.status(), "status to say commits stopped")
    finally:
        hub.stop()  # exit 0, or this fails
    log = hub.log.read_text()
    assert "Traceback" not in log
    assert log.count("prediction: forecaster state not saved: the disk is full") == 1, log
    filler.unlink()


def _intent(data_dir: Path) -> tuple[str, str, int]:
    """The one intent's id, reply topic and offers on file."""
    conn = open_ledger(data_dir, read_only=True)
    try:
        (intent,) = intents_ledger.intents(conn)
        return intent.id, intent.reply_topic, intents_ledger.offer_count(conn, intent.id)
    finally:
        conn.close()


def test_an_offer_that_comes_while_the_disk_is_full_is_held_and_stored_once_there_is_room(
    tmp_path: Path, small_disk: Path, broker: Broker
) -> None:
    """The broker counts an offer delivered once the hub has it: a ledger that cannot take it must not end
    the hub, nor lose the offer."""
    data_dir = small_disk / "data"
    config = _config(
        tmp_path / "hearth.toml", data_dir, rate=20,
        extra=f'[market]\nhost = "127.0.0.1"\nport = {broker.port}\ntls = false\ncheck_every = "1s"\n',
    )  # fmt: skip
    hub = Hub(config, tmp_path)
    try:
        wait_until(lambda: "hub running" in hub.status(), "the hub to record")
        made = hub.cli(
            "intent", "create", "--category", "repairs", "--text", "fix a door", "--lifetime", "1h"
        )
        assert made.returncode == 0, made.stderr
        intent_id, reply_topic, _ = _intent(data_dir)
        filler = _fill(small_disk)
        wait_until(lambda: "NOT COMMITTING READINGS" in hub.status(), "status to say commits stopped")
        offer = {"v": 1, "intent": intent_id, "vendor": "Doors Ltd", "text": "tomorrow, 40 EUR"}
        publish_all(broker.port, reply_topic, [json.dumps(offer).encode()])
        not_stored = "intents: changes and offers not stored: the disk is full; 1 offers held"
        wait_until(lambda: not_stored in hub.log.read_text(), "the service to say why", within=60)
        assert hub.proc.poll() is None
        assert _intent(data_dir)[2] == 0
        filler.unlink()
        wait_until(lambda: _intent(data_dir)[2] == 1, "the held offer to be stored", within=60)
    finally:
        hub.stop()
    log = hub.log.read_text()
    assert "Traceback" not in log
    assert log.count("changes and offers not stored") == 1, log
    assert "intents: the ledger takes their changes again" in log


def _running_version(data_dir: Path) -> int:
    conn = open_ledger(data_dir, read_only=True)
    try:
        return fleet_history.running_version(conn)
    finally:
        conn.close()


def test_a_config_pushed_while_the_disk_is_full_waits_and_is_applied_once_there_is_room(
    tmp_path: Path, small_disk: Path, broker: Broker
) -> None:
    """Applying a signed push writes the ledger's fleet history first: on a full disk the service says once
    why it waits (no traceback at every reconnect) and applies the push, still retained, once it can."""
    data_dir = small_disk / "data"
    config = _config(tmp_path / "hearth.toml", data_dir, rate=20)
    provisioned = config.read_text()
    keys = tmp_path / "keys"
    made = subprocess.run(
        [sys.executable, "-m", "agent", "fleet", "keygen", "--out", str(keys)],
        capture_output=True, text=True, cwd=REPO, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    config.write_text(
        provisioned + f'[fleet]\npublic_key = "{keys / "fleet.pub"}"\nconfirm_window = "500ms"\n'
        f'broker = {{ host = "127.0.0.1", port = {broker.port}, tls = false }}\n'
    )
    pushed = tmp_path / "pushed.toml"
    pushed.write_text(provisioned[provisioned.index("[store]") :].replace("rate = 20", "rate = 10"))
    hub = Hub(config, tmp_path)
    try:
        wait_until(lambda: "hub running" in hub.status(), "the hub to record")
        filler = _fill(small_disk)
        wait_until(lambda: "NOT COMMITTING READINGS" in hub.status(), "status to say commits stopped")
        for args in (
            ("sign", str(pushed), "--key", str(keys / "fleet.key"), "--version", "1", "--target",
             "hub:fault-hub", "--out", str(tmp_path / "pushed.signed")),
            ("push", str(tmp_path / "pushed.signed"), "--broker", f"mqtt://127.0.0.1:{broker.port}"),
        ):  # fmt: skip
            done = subprocess.run(
                [sys.executable, "-m", "agent", "fleet", *args],
                capture_output=True, text=True, cwd=REPO, timeout=60, check=False,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
        paused = "fleet: config push paused: the disk is full"
        wait_until(lambda: paused in hub.log.read_text(), "the fleet service to say why it waits", within=60)
        assert hub.proc.poll() is None
        assert _running_version(data_dir) == 0
        filler.unlink()
        wait_until(lambda: _running_version(data_dir) == 1, "the push to be applied", within=90)
        assert "rate = 10" in config.read_text()
    finally:
        hub.stop()
    log = hub.log.read_text()
    assert "Traceback" not in log
    assert log.count(paused) == 1, log
    assert "fleet: handling config pushes again" in log
