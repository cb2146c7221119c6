"""A rule machine plays the owner at the CLI beside a real ``hearth run``, with a real Mosquitto that goes
away and comes back, a subscriber on ``#``, a fleet manager pushing configs, and simulated BLE sensors
the owner adopts and forgets.

After every step: nothing of a strand that was never granted, or was revoked or forgotten, reaches the
broker after the change; both data files pass ``integrity_check``; the audit chain verifies and holds
every message the broker passed on; the hub holds no data file that was deleted under it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from agent.consent.ledger import verify_audit
from agent.consent.strands import covered
from agent.control.wire import socket_path
from agent.fleet.document import public_key_text
from agent.sources.ble.simulated import DEMO_DEVICES, SimulatedDevice
from tests.conftest import hearth
from tests.fleet.fleet_support import document, publish
from tests.store.test_one_owner import deleted_files_held
from tests.sync.conftest import Broker, Seen, subscribe
from tests.testbed.wait import wait_until

HUB = "machine-hub"
PATTERNS = ("living_room.temperature", "living_room.*", "plug.power", "porch.*", "*")
FORGETTABLE = ("living_room.temperature", "living_room.humidity")
# Summaries of a window are audited when the broker acknowledges them: allow that long before checking.
AUDIT_GRACE = 3.0
# A message the hub had already handed to the broker when the owner acted may still be on its way.
IN_FLIGHT = 2.0
_NOT_DATA = ("status", "online", "fleet")


def hub_config(data_dir: Path, port: int, key: Ed25519PrivateKey, plug_rate: int) -> str:
    return f"""
[hub]
id = "{HUB}"
data_dir = "{data_dir}"

[log]
level = "warning"

[store]
flush_interval = "100ms"

[[sources]]
kind = "simulated"
name = "living_room"
file = "builtin:climate.csv"
rate = 5

[[sources]]
kind = "simulated"
name = "plug"
file = "builtin:kettle_plug.csv"
rate = {plug_rate}

[[sources]]
kind = "ble"
name = "ble"
simulate = true
adoption_refresh = "1h"

[upstream]
host = "127.0.0.1"
port = {port}
tls = false
summarise_interval = "500ms"
summary_lag = "500ms"

[fleet]
public_key = "{public_key_text(key.public_key())}"
confirm_window = "500ms"
"""


class Subscriber:
    """A subscriber on ``#`` in a thread of its own, noting when each message arrived."""

    def __init__(self, port: int) -> None:
        self.seen = Seen()
        self.received: list[tuple[float, str, bytes]] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, args=(port,), daemon=True)
        self._thread.start()
        wait_until(self.seen.ready.is_set, "the subscriber", within=20)

    def _run(self, port: int) -> None:
        received = self.received

        def note(topic: str, payload: bytes, _retain: bool) -> None:
            received.append((time.time(), topic, payload))

        self.seen.add = note  # type: ignore[method-assign]
        self._task = self._loop.create_task(subscribe(port, self.seen))
        try:
            with contextlib.suppress(asyncio.CancelledError):
                self._loop.run_until_complete(self._task)
        finally:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    def data(self) -> list[tuple[float, str, dict[str, Any]]]:
        """(arrival, topic, body) of every consented message (status, presence and fleet ones aside)."""
        return [
            (arrived, topic, json.loads(payload))
            for arrived, topic, payload in list(self.received)
            if topic.startswith(f"hearth/v1/{HUB}/") and topic.rsplit("/", 1)[1] not in _NOT_DATA
        ]

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(10)


class OwnerAtTheCli(RuleBasedStateMachine):
    """The owner grants, revokes, forgets and looks, while the broker and a fleet manager do their part."""

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="hearth-owner-"))
        (self.folder / "broker").mkdir()
        self.broker = Broker(self.folder / "broker")
        self.broker.start()
        self.key = Ed25519PrivateKey.generate()
        self.data_dir = self.folder / "data"
        self.config = self.folder / "hub.toml"
        self.config.write_text(hub_config(self.data_dir, self.broker.port, self.key, 10))
        self.subscriber = Subscriber(self.broker.port)
        with (self.folder / "hub.log").open("ab") as log:
            self.hub = subprocess.Popen(
                [sys.executable, "-m", "agent", "run", "-c", str(self.config)], stdout=log, stderr=log
            )
        wait_until(lambda: socket_path(self.data_dir).exists(), "the hub's control socket")
        # grant id -> (patterns, revoked at); forgotten stream -> when
        self.grants: dict[str, tuple[tuple[str, ...], float | None]] = {}
        self.forgotten: dict[str, float] = {}
        # BLE device name -> adopted address; (name, forgotten at, adopted again at) for every forget
        self.adopted: dict[str, str] = {}
        self.device_forgets: list[list[Any]] = []
        self.broker_up = True
        self.down_since = 0.0
        self.version = 0

    def cli(self, *args: str) -> str:
        done = hearth(*args, "-c", str(self.config), env_extra={"COLUMNS": "200"})
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        return done.stdout

    # -- the owner ---------------------------------------------------------------------------------

    @rule(pattern=st.sampled_from(PATTERNS), recipient=st.sampled_from(("coop", "vendor")))
    def grant(self, pattern: str, recipient: str) -> None:
        out = self.cli(
            "consent", "grant", "--recipient", recipient, "--purpose", "machine",
            "--strand", pattern, "--granularity", "summary:1s",
        )  # fmt: skip
        gid = out.split()[1].rstrip(":")
        self.grants[gid] = ((pattern,), None)

    @precondition(lambda self: any(revoked is None for _, revoked in self.grants.values()))
    @rule(data=st.data())
    def revoke(self, data: st.DataObject) -> None:
        active = sorted(g for g, (_, revoked) in self.grants.items() if revoked is None)
        gid = data.draw(st.sampled_from(active))
        self.cli("consent", "revoke", gid)
        self.grants[gid] = (self.grants[gid][0], time.time())

    @precondition(lambda self: len(self.forgotten) < len(FORGETTABLE))
    @rule(data=st.data())
    def forget(self, data: st.DataObject) -> None:
        stream = data.draw(st.sampled_from([s for s in FORGETTABLE if s not in self.forgotten]))
        self.cli("forget", stream)
        self.forgotten[stream] = time.time()

    @rule(device=st.sampled_from(DEMO_DEVICES), name=st.sampled_from(("porch", "bedroom")))
    def adopt(self, device: SimulatedDevice, name: str) -> None:
        if self.adopted.get(name) == device.address:
            self.cli("ble", "adopt", device.address, "--name", name)  # again: allowed, nothing changes
            return
        if name in self.adopted or device.address in self.adopted.values():
            done = hearth("ble", "adopt", device.address, "--name", name, "-c", str(self.config))
            assert done.returncode == 2, done.stderr  # a clash is the owner's mistake, said plainly
            assert "Traceback" not in done.stderr
            return
        self.cli("ble", "adopt", device.address, "--name", name)
        self.adopted[name] = device.address
        for forgotten in self.device_forgets:
            if forgotten[0] == name and forgotten[2] is None:
                forgotten[2] = time.time()

    @precondition(lambda self: bool(self.adopted))
    @rule(data=st.data())
    def forget_device(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.adopted)))
        self.cli("ble", "forget", name)
        del self.adopted[name]
        self.device_forgets.append([name, time.time(), None])

    @rule(export=st.booleans())
    def look(self, export: bool) -> None:
        self.cli("consent", "list")
        status = self.cli("sync", "status")
        state = next(line for line in status.splitlines() if line.strip().startswith("state:"))
        if not self.broker_up and time.time() - self.down_since > 10:
            assert "disconnected" in state, status
        self.cli("status")
        if export:
            archive = self.folder / f"passport-{time.monotonic_ns()}.zip"
            self.cli("passport", "export", str(archive))
            assert "intact" in hearth("passport", "verify", "--archive", str(archive)).stdout

    # -- the world ---------------------------------------------------------------------------------

    @precondition(lambda self: self.broker_up)
    @rule()
    def broker_goes_away(self) -> None:
        self.broker.stop()
        self.broker_up = False
        self.down_since = time.time()

    @precondition(lambda self: not self.broker_up)
    @rule()
    def broker_comes_back(self) -> None:
        self.broker.start()
        self.broker_up = True
        wait_until(self.subscriber.seen.ready.is_set, "the subscriber back", within=20)

    @precondition(lambda self: self.broker_up)
    @rule(rate=st.sampled_from((5, 20)))
    def fleet_push(self, rate: int) -> None:
        self.version += 1
        text = hub_config(self.data_dir, self.broker.port, self.key, rate)
        payload = document(self.key, text, version=self.version, target=f"hub:{HUB}")
        asyncio.run(publish(self.broker.port, f"hub:{HUB}", payload))

    # -- what must always hold ---------------------------------------------------------------------

    @invariant()
    def nothing_leaves_that_should_not(self) -> None:
        for arrived, topic, body in self.subscriber.data():
            if body["kind"] == "erasure":
                assert topic.endswith("/_erasure")
                continue
            assert body["grant"] in self.grants, body  # never an ungranted strand
            patterns, revoked = self.grants[body["grant"]]
            assert covered(patterns, body["stream"]), body
            assert revoked is None or arrived < revoked + IN_FLIGHT, ("sent after its revocation", body)
            gone = self.forgotten.get(body["stream"])
            assert gone is None or arrived < gone + IN_FLIGHT, ("sent after it was forgotten", body)
            device = body["stream"].split(".", 1)[0]
            for name, forgot_at, adopted_again in self.device_forgets:
                if name == device and forgot_at + IN_FLIGHT < arrived:
                    assert adopted_again is not None, ("sent after its device was forgotten", body)
                    assert arrived > adopted_again, ("sent after its device was forgotten", body)

    @invariant()
    def files_are_sound_and_the_audit_holds_what_left(self) -> None:
        if not hasattr(self, "hub"):
            return
        assert self.hub.poll() is None, (self.folder / "hub.log").read_text()
        assert deleted_files_held(self.hub.pid) == []
        now = time.time()
        delivered = {b["seq"] for t, _, b in self.subscriber.data() if t < now - AUDIT_GRACE}
        for name in ("readings.db", "ledger.db"):
            conn = sqlite3.connect(f"{(self.data_dir / name).as_uri()}?mode=ro", uri=True)
            try:
                assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
                if name == "ledger.db":
                    assert verify_audit(conn) == []
                    audited = {
                        json.loads(d)["seq"]
                        for (d,) in conn.execute(
                            "SELECT detail FROM audit_log WHERE kind IN ('publish', 'erasure request')"
                        )
                    }
                    assert delivered <= audited
            finally:
                conn.close()

    def teardown(self) -> None:
        try:
            # What the last steps changed has had time to show at the broker: check it once more.
            time.sleep(IN_FLIGHT + 2.0)
            self.nothing_leaves_that_should_not()
        finally:
            # Whatever the check found, the hub, the subscriber and the broker go with this run.
            self.hub.send_signal(signal.SIGTERM)
            try:
                self.hub.wait(30)
            finally:
                if self.hub.poll() is None:
                    self.hub.kill()
                self.subscriber.close()
                self.broker.stop()
        assert self.hub.returncode == 0, (self.folder / "hub.log").read_text()


def test_owner_at_the_cli_beside_a_running_hub() -> None:
    examples = int(os.environ.get("HEARTH_OWNER_EXAMPLES", "4"))
    machine = settings(
        max_examples=examples,
        stateful_step_count=20,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )(OwnerAtTheCli)
    machine.TestCase().runTest()
