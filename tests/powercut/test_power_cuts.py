"""Seeded power cuts under a real ``hearth run``: what the hub acknowledged survives, and nothing is corrupt.

The data folder sits on the power-cut rig (tests/testbed/lazyfs.py): at a cut every write since its
file's last fsync is gone, the last one possibly torn. Each cut comes at a random moment of one of:
ingest (20 sensors), right after ``hearth consent grant`` or ``revoke`` returned, an outbox drain to a
real Mosquitto, a retention pass rolling up old readings. After each cut the files are checked, then a
fresh ``hearth run`` starts on what survived. Invariants:

- ``integrity_check`` is ok on both files; the audit chain verifies;
- every grant and revocation the command line reported is in the ledger;
- no reading committed more than ``sync_interval`` + two flushes (and a second of scheduling) before
  the cut is lost;
- a retention pass is all or nothing: an old hour's readings are either raw or rolled up, never both
  or neither;
- upstream, a sequence number always carries the same message (none re-used after a cut), and every
  publish the audit log records reached the broker.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from agent.readings import Reading, StreamInfo
from agent.store.readings import ReadingsStore, time_key
from tests.conftest import REPO
from tests.powercut.rig_hub import RigHub
from tests.sync.conftest import Broker
from tests.testbed.hub import climate_rooms
from tests.testbed.lazyfs import LazyMount
from tests.testbed.wait import wait_until

HUB = "cut-hub"
FLUSH_S = 0.25
SYNC_S = 2.0
# Committed more than this before a cut, a reading must survive it.
BOUND_S = SYNC_S + 2 * FLUSH_S + 1.0
OLD_READINGS = 120  # per retention scenario: two minutes of one reading a second, hours ago
MOMENTS = ("ingest", "grant", "revoke", "drain", "retention")


class Subscriber:
    """Everything the broker delivers under the hub's prefix, kept by a persistent QoS 1 session."""

    def __init__(self, port: int) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id="powercut-sub", clean_session=False
        )
        self.client.on_connect = lambda c, _u, _f, _rc, _p: c.subscribe("hearth/v1/#", qos=1)
        self.client.on_subscribe = lambda *_a: self._subscribed.set()
        self.client.on_message = self._add
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self._subscribed.wait(10), "the subscriber never subscribed"

    def _add(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload)))

    def by_seq(self) -> dict[int, set[bytes]]:
        """Each sequence number with the distinct payloads it arrived with."""
        seen: dict[int, set[bytes]] = {}
        with self._lock:
            for topic, payload in self.messages:
                if not topic.endswith("/status"):
                    seen.setdefault(json.loads(payload)["seq"], set()).add(payload)
        return seen

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@dataclass
class Figures:
    cuts: dict[str, int] = field(default_factory=dict)
    torn: int = 0
    grants: int = 0
    revokes: int = 0
    lost_s: list[float] = field(default_factory=list)
    fsyncs: int = 0
    pages: int = 0


class PowerCuts(RigHub):
    """A hub on the rig, cut at seeded random moments, checked after each cut."""

    def __init__(self, root: Path, rig: LazyMount, broker: Broker, seed: int) -> None:
        self.root = root
        self.rig = rig
        self.rng = random.Random(seed)
        self.seed = seed
        self.data = rig.mountpoint / "data"
        self.config = root / "hearth.toml"
        self.config.write_text(
            f'[hub]\nid = "{HUB}"\ndata_dir = "{self.data}"\n'
            f'[store]\nflush_interval = "{FLUSH_S}s"\nsync_interval = "{SYNC_S}s"\n'
            '[store.retention]\nraw = "1h"\ncheck_every = "1s"\n'
            '[log]\nlevel = "warning"\n'
            f'[upstream]\nhost = "127.0.0.1"\nport = {broker.port}\ntls = false\nmax_inflight = 8\n'
            'summarise_interval = "1s"\nsummary_lag = "1s"\n' + climate_rooms(1.0)
        )
        self.log = root / "hub.log"
        self.granted: list[str] = []
        self.revoked: list[str] = []
        self.old_hours: list[float] = []
        self.first_hour = time.time() // 3600 * 3600
        self.figures = Figures()
        self.hub: subprocess.Popen[bytes] | None = None
        self.moment = ""

    def where(self) -> str:
        done = sum(self.figures.cuts.values())
        return f"(power-cut seed {self.seed}, cut {done} at {self.moment}; hub log {self.log})"

    # -- the hub -------------------------------------------------------------------------------------

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "agent", *args, "-c", str(self.config)],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"hearth {args[:2]} failed {self.where()}: {done.stderr}"
        return done.stdout

    def cut(self) -> None:
        """Kill the hub where it stands, then cut the power (half the time tearing the last write)."""
        assert self.hub is not None
        self.hub.kill()
        self.hub.wait(10)
        self.hub = None
        tear = self.rng.randrange(1 << 30) if self.rng.random() < 0.5 else None
        counted = self.rig.cut(tear_seed=tear)
        self.figures.torn += counted["torn"] is not None
        self.figures.fsyncs += counted["fsync_calls"]
        self.figures.pages += counted["pages_to_disk"]
        self.rig.mount()

    # -- the moments -----------------------------------------------------------------------------

    def one_cut(self) -> None:
        moment = self.moment = self.rng.choice(MOMENTS)
        self.figures.cuts[moment] = self.figures.cuts.get(moment, 0) + 1
        if moment == "retention":
            self._add_old_readings()
        self.start()
        time.sleep(self.rng.uniform(0.0, 5.0))  # the random moment of the cut, not synchronisation
        if moment == "grant" or (moment == "revoke" and not self._active()):
            self._grant()
        elif moment == "revoke":
            grant = self.rng.choice(self._active())
            self.cli("consent", "revoke", grant)
            self.revoked.append(grant)
            self.figures.revokes += 1
        elif moment == "drain" and not self._active():
            self._grant()
            time.sleep(self.rng.uniform(1.0, 3.0))  # summaries queued and draining
        at, committed = time.time(), self._committed_before(time.time() - BOUND_S)
        self.cut()
        self.check(at, committed)

    def _active(self) -> list[str]:
        return [g for g in self.granted if g not in self.revoked]

    def _grant(self) -> None:
        rooms = f"room{self.rng.randrange(10)}.*"
        out = self.cli(
            "consent", "grant", "--recipient", "coop", "--purpose", "power-cut test",
            "--strand", rooms, "--granularity", "summary:1s",
        )  # fmt: skip
        self.granted.append(out.split()[1].rstrip(":"))
        self.figures.grants += 1

    def _add_old_readings(self) -> None:
        """Two minutes of readings in an hour long past, synced, for the next start's retention pass."""
        hour = self.first_hour - (3 + len(self.old_hours)) * 3600  # a different hour each time
        store = ReadingsStore(self.data / "readings.db", sync_interval=0.0)
        try:
            store.write_batch(
                [Reading("archive.temperature", hour + 600 + i, 18.0) for i in range(OLD_READINGS)],
                [("simulated", StreamInfo.of("archive", "temperature", "C"))],
            )
        finally:
            store.close()
        self.old_hours.append(hour)

    def _committed_before(self, before: float) -> int:
        """Readings committed now with a timestamp before ``before`` (read-only, as ``hearth status``)."""
        path = self.data / "readings.db"
        try:
            conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        except sqlite3.OperationalError:
            return 0  # not created yet
        try:
            return int(
                conn.execute("SELECT count(*) FROM readings WHERE key < ?", (time_key(before),)).fetchone()[0]
            )
        except sqlite3.OperationalError:
            return 0  # the schema itself is not there yet
        finally:
            conn.close()

    # -- the invariants --------------------------------------------------------------------------

    def check(self, at: float, committed: int) -> None:
        where = self.where()
        with self.checked_files() as (readings, ledger):
            grants = {g for (g,) in ledger.execute("SELECT id FROM grants")}
            assert set(self.granted) <= grants, (
                f"acknowledged grants lost: {set(self.granted) - grants} {where}"
            )
            revoked = {g for (g,) in ledger.execute("SELECT grant_id FROM revocations")}
            assert set(self.revoked) <= revoked, f"acknowledged revokes lost {where}"
            kept, newest = 0, None  # unless the first start's schema reached the disk
            if readings.execute("SELECT 1 FROM sqlite_master WHERE name = 'readings'").fetchone():
                kept = readings.execute(
                    "SELECT count(*) FROM readings WHERE key < ?", (time_key(at - BOUND_S),)
                ).fetchone()[0]
                newest = readings.execute(
                    "SELECT max(ts) FROM readings WHERE stream_id IN"
                    " (SELECT id FROM streams WHERE name LIKE 'room%')"
                ).fetchone()[0]
            assert kept >= committed, (
                f"{committed - kept} readings committed over {BOUND_S} s before the cut were lost {where}"
            )  # fmt: skip
            if newest is not None:
                self.figures.lost_s.append(at - newest)
            for hour in self.old_hours:
                self._check_rolled_up(readings, hour)

    def _check_rolled_up(self, conn: sqlite3.Connection, hour: float) -> None:
        (raw,) = conn.execute(
            "SELECT count(*) FROM readings r JOIN streams s ON s.id = r.stream_id"
            " WHERE s.name = 'archive.temperature' AND r.ts >= ? AND r.ts < ?",
            (hour, hour + 3600),
        ).fetchone()
        (rolled,) = conn.execute(
            "SELECT coalesce(sum(count), 0) FROM rollups r JOIN streams s ON s.id = r.stream_id"
            " WHERE s.name = 'archive.temperature' AND period = 3600 AND start = ?",
            (hour,),
        ).fetchone()
        assert sorted((raw, rolled)) == [0, OLD_READINGS], (
            f"retention half done for {hour}: {raw} raw, {rolled} rolled up {self.where()}"
        )

    def check_upstream(self, subscriber: Subscriber) -> None:
        """Drain to the end with no cut; then every audited publish arrived, and no seq was re-used."""
        self.start()
        wait_until(lambda: self._outbox_depth() == 0, f"the outbox to drain {self.where()}", within=60)
        self.stop()
        ledger = sqlite3.connect(self.data / "ledger.db")
        try:
            published = [
                json.loads(detail)
                for (detail,) in ledger.execute("SELECT detail FROM audit_log WHERE kind = 'publish'")
            ]
        finally:
            ledger.close()
        wait_until(
            lambda: {p["seq"] for p in published} <= set(subscriber.by_seq()), "every publish to arrive"
        )
        seen = subscriber.by_seq()
        reused = {seq: payloads for seq, payloads in seen.items() if len(payloads) > 1}
        assert not reused, f"sequence numbers re-used for other messages: {sorted(reused)} {self.where()}"
        for entry in published:
            (payload,) = seen[entry["seq"]]
            assert hashlib.sha256(payload).hexdigest() == entry["sha256"], (
                f"seq {entry['seq']} {self.where()}"
            )

    def _outbox_depth(self) -> int:
        path = self.data / "ledger.db"
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        try:
            return int(conn.execute("SELECT count(*) FROM outbox").fetchone()[0])
        finally:
            conn.close()


def run_cuts(tmp_path: Path, rig: LazyMount, broker: Broker, cuts: int) -> Figures:
    seed = int(os.environ.get("HEARTH_POWERCUT_SEED", random.randrange(1 << 30)))
    print(f"power-cut seed {seed}")
    subscriber = Subscriber(broker.port)
    run = PowerCuts(tmp_path, rig, broker, seed)
    try:
        for _ in range(cuts):
            run.one_cut()
        run.check_upstream(subscriber)
    finally:
        if run.hub is not None:
            run.hub.kill()
            run.hub.wait()
        subscriber.close()
    figures = run.figures
    lost = sorted(figures.lost_s) or [float("nan")]
    print(
        f"{cuts} cuts {figures.cuts}, {figures.torn} torn writes; {figures.grants} grants and"
        f" {figures.revokes} revokes acknowledged, all kept; newest surviving reading"
        f" {lost[0]:.1f}-{lost[-1]:.1f} s old at the cut (median {lost[len(lost) // 2]:.1f});"
        f" {figures.fsyncs} fsyncs, {figures.pages} pages to the disk"
    )
    return figures


def test_power_cuts_lose_nothing_acknowledged(tmp_path: Path, rig: LazyMount, broker: Broker) -> None:
    figures = run_cuts(tmp_path, rig, broker, cuts=8)
    assert sum(figures.cuts.values()) == 8


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_two_hundred_power_cuts(tmp_path: Path, rig: LazyMount, broker: Broker) -> None:
    figures = run_cuts(tmp_path, rig, broker, cuts=200)
    assert sum(figures.cuts.values()) == 200
