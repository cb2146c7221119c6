"""Seeded power cuts during a fleet config apply, its rollback, and a passport export in progress.

A real ``hearth run`` keeps its config file and its data folder on the power-cut rig; a real Mosquitto carries
signed fleet documents. Each cut comes at a random moment of one of:

- ``apply``: a good push, applied live (a source's rate) or by restarting the agent (the log format);
- ``rollback``: a bad push (a source whose data file does not exist), rolled back live or, for a push that
  needs a restart, by the fresh agent that fails to start;
- ``export``: ``hearth passport export`` while it writes the archive.

Invariants, checked after each cut and again once a fresh hub has settled what the cut interrupted:

- the config file (and its ``.prev``) is one whole file the hub wrote, never a mix or a torn one;
- once the fresh hub settled (nothing left ``applying``), the config file is the one the ledger says runs;
- the export is absent or complete and valid (``verify_archive``), and present if the command returned;
- ``integrity_check`` is ok on both files, and the audit chain verifies.
"""

from __future__ import annotations

import os
import random
import re
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.consent.passport import verify_archive
from agent.errors import AgentError
from agent.fleet import files
from agent.fleet.document import public_key_text
from agent.fleet.mqtt import document_topic
from agent.fleet.verify import digest
from agent.readings import Reading, StreamInfo
from agent.store.readings import open_readings
from agent.store.sqlite import ensure_private_dir
from tests.conftest import REPO
from tests.fleet.fleet_support import document
from tests.powercut.rig_hub import RigHub
from tests.sync.conftest import Broker
from tests.testbed.lazyfs import LazyMount
from tests.testbed.wait import wait_until

HUB = "apply-cut-hub"
MOMENTS = ("apply", "rollback", "export")
# Old readings for the export to write: enough that it takes a while, so cuts land inside it.
EXPORT_ROWS = 400_000
# Changes in the config folder of an install and its rollback (tests/powercut/test_files.py counts them).
STEPS = 11


def _plug(rate: int) -> str:
    return (
        f'[[sources]]\nkind = "simulated"\nname = "plug"\nfile = "builtin:kettle_plug.csv"\nrate = {rate}\n'
    )


@dataclass
class Figures:
    cuts: dict[str, int] = field(default_factory=dict)
    torn: int = 0
    # What the config file was right after each cut of a push: "old" or "new" (whole, either way).
    config_at_cut: dict[str, int] = field(default_factory=dict)
    # How each push ended once the fresh hub settled it.
    settled: dict[str, int] = field(default_factory=dict)
    # Each export cut: "absent", "complete" (and valid), or "finished" (the command had returned).
    exports: dict[str, int] = field(default_factory=dict)
    # Cuts armed just before the n-th change in the config folder, by n.
    steps: dict[int, int] = field(default_factory=dict)


class ApplyAndExportCuts(RigHub):
    """A fleet-managed hub on the rig, cut during pushes and exports at seeded random moments."""

    def __init__(self, root: Path, rig: LazyMount, broker: Broker, seed: int) -> None:
        self.root = root
        self.rig = rig
        self.broker = broker
        self.seed = seed
        self.rng = random.Random(seed)
        self.key = Ed25519PrivateKey.generate()
        self.etc = rig.mountpoint / "etc"
        self.data = rig.mountpoint / "data"
        self.exports = rig.mountpoint / "exports"
        self.config = self.etc / "hearth.toml"
        self.local = (
            f'[hub]\nid = "{HUB}"\ndata_dir = "{self.data}"\n'
            '[store]\nflush_interval = "250ms"\n[log]\nlevel = "info"\n'
            f'[fleet]\npublic_key = "{public_key_text(self.key.public_key())}"\nconfirm_window = "1s"\n'
            f'broker = {{ host = "127.0.0.1", port = {broker.port}, tls = false }}\n'
        )
        self.original = self.local + _plug(20)
        for folder in (self.etc, self.exports):
            ensure_private_dir(folder)  # synced into its parent: a cut keeps it
        files.install(self.config, self.original)
        self._old_readings()
        self.log = root / "hub.log"
        self.hub: subprocess.Popen[bytes] | None = None
        self.exporter: subprocess.Popen[bytes] | None = None
        self.figures = Figures()
        self.pushed: str | None = None  # the sha256 of the last document pushed
        self.counted: str | None = None  # the last push whose outcome is in the figures
        self.next_version = 1
        self.moment = ""

    def where(self) -> str:
        done = sum(self.figures.cuts.values())
        return f"(apply/export cut seed {self.seed}, cut {done} at {self.moment}; hub log {self.log})"

    def _old_readings(self) -> None:
        store = open_readings(self.data, sync_interval=0.0)
        try:
            start = time.time() - 3600
            store.write_batch(
                [Reading("archive.temperature", start + i * 0.02, 18.0 + i % 7) for i in range(EXPORT_ROWS)],
                [("simulated", StreamInfo.of("archive", "temperature", "C"))],
            )
        finally:
            store.close()

    # -- the hub -------------------------------------------------------------------------------------

    def cut(self) -> None:
        """Kill the hub (and an export in progress) where they stand, then cut the power."""
        for proc in (self.hub, self.exporter):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)
        self.hub = None
        tear = self.rng.randrange(1 << 30) if self.rng.random() < 0.5 else None
        self.figures.torn += self.rig.cut(tear_seed=tear)["torn"] is not None
        self.rig.mount()

    def _ledger(self) -> sqlite3.Connection:
        return sqlite3.connect(f"{(self.data / 'ledger.db').as_uri()}?mode=ro", uri=True)

    def settle(self) -> None:
        """Wait until the running hub has handled the last push and left nothing ``applying``."""
        if self.pushed is None:
            return
        sha = self.pushed

        def settled() -> bool:
            ledger = self._ledger()
            try:
                handled = ledger.execute(
                    "SELECT 1 FROM fleet_audit WHERE sha256 = ? UNION ALL"
                    " SELECT 1 FROM config_history WHERE sha256 = ? AND status != 'applying'",
                    (sha, sha),
                ).fetchone()
                applying = ledger.execute("SELECT 1 FROM config_history WHERE status = 'applying'").fetchone()
            except sqlite3.OperationalError:
                return False  # busy, or the hub has not made its tables yet
            finally:
                ledger.close()
            return handled is not None and applying is None

        wait_until(settled, f"the hub to settle the push {self.where()}", within=60)

    # -- the moments ---------------------------------------------------------------------------------

    def one_cut(self) -> None:
        moment = self.moment = self.rng.choice(MOMENTS)
        self.figures.cuts[moment] = self.figures.cuts.get(moment, 0) + 1
        self.start()
        self.settle()
        self.check_settled()
        before = files.read(self.config)
        returned = False
        if moment == "export":
            returned = self._export()
        else:
            self._push(good=moment == "apply")
        self.cut()
        self.check(moment, before, returned)

    def _push(self, *, good: bool) -> None:
        version = self.next_version
        restart = self.rng.random() < 0.5
        body = _plug(20 + version % 7 + 1) if good else _plug(20) + (
            '[[sources]]\nkind = "simulated"\nname = "gone"\nfile = "/nonexistent/gone.csv"\n'
        )  # fmt: skip
        if restart:  # the log section is read once: applying it restarts the agent
            body += f'[log]\nlevel = "info"\nformat = "{"json" if version % 2 else "console"}"\n'
        payload = document(self.key, body, version=version, target=f"hub:{HUB}")
        self.pushed = digest(payload)
        self.next_version += 1
        if self.rng.random() < 0.5:
            # Just before one of the config folder's changes: each step of the install (9 changes) and of
            # a rollback (2 more), or, past them, once the push is settled.
            step = self.rng.randint(1, STEPS + 1)
            self.figures.steps[step] = self.figures.steps.get(step, 0) + 1
            self.rig.arm("/etc", step)
            self._publish(payload)
            ended = re.compile(rf"config v{version} applied|rolling back config v{version}:")
            wait_until(
                lambda: self.rig.frozen() or ended.search(self.log.read_text(errors="replace")) is not None,
                f"the cut or the end of v{version} {self.where()}",
            )
            return
        self._publish(payload)
        wait_until(
            lambda: f"applying config v{version}" in self.log.read_text(errors="replace"),
            f"the hub to begin applying v{version} {self.where()}",
        )
        # The random moment of the cut, not synchronisation: the apply, its confirmation window, the
        # rollback (at once for a bad live push; after a restart for a bad restart push) or after all.
        time.sleep(self.rng.uniform(0.0, 1.6 if good else 0.6))

    def _publish(self, payload: bytes) -> None:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="apply-cut-pusher")
        client.connect("127.0.0.1", self.broker.port)
        client.loop_start()
        try:
            topic = document_topic("hearth/v1", f"hub:{HUB}")
            client.publish(topic, payload, qos=1, retain=True).wait_for_publish(10)
        finally:
            client.loop_stop()
            client.disconnect()

    def _export(self) -> bool:
        """Start ``hearth passport export``; cut at a random moment; True if it returned first."""
        target = self._export_path()
        with (self.root / "export.log").open("ab") as out:
            self.exporter = subprocess.Popen(
                [sys.executable, "-m", "agent", "passport", "export", str(target), "-c", str(self.config)],
                stdout=out,
                stderr=out,
                cwd=REPO,
            )
        exporter = self.exporter
        partial = files.sibling(target, ".partial")
        wait_until(
            lambda: partial.exists() or exporter.poll() is not None, f"the export to begin {self.where()}"
        )
        time.sleep(self.rng.uniform(0.0, 2.5))  # the random moment of the cut, not synchronisation
        done = self.exporter.poll()
        assert done in (None, 0), f"the export failed {self.where()}: see {self.root / 'export.log'}"
        return done == 0

    def _export_path(self) -> Path:
        return self.exports / f"passport-{self.figures.cuts['export']}.zip"

    # -- the invariants ------------------------------------------------------------------------------

    def _written(self, ledger: sqlite3.Connection) -> dict[str, int]:
        """Every whole config text the hub may have in place, with its version (0: the provisioned one)."""
        texts = {self.original: 0}
        texts.update({text: v for v, text in ledger.execute("SELECT version, document FROM config_history")})
        return texts

    def check(self, moment: str, before: str, returned: bool) -> None:
        where = self.where()
        with self.checked_files() as (_, ledger):
            written = self._written(ledger)
        assert self.config.exists(), f"no config file after a cut {where}"
        text = files.read(self.config)
        assert text in written, f"a torn or mixed config file after a cut {where}:\n{text[:2000]}"
        prev = files.sibling(self.config, ".prev")
        if prev.exists():
            assert files.read(prev) in written, f"a torn {prev.name} after a cut {where}"
        if moment == "export":
            self._check_export(returned)
        else:
            state = "old" if text == before else "new"
            self.figures.config_at_cut[state] = self.figures.config_at_cut.get(state, 0) + 1

    def _check_export(self, returned: bool) -> None:
        target = self._export_path()
        leftovers = [p.name for p in self.exports.iterdir() if p.name.startswith(target.name) and p != target]
        if not target.exists():
            assert not returned, f"a finished export is gone after a cut {self.where()}"
            state = "absent"
        else:
            try:
                problems = verify_archive(target)
            except AgentError as exc:
                problems = [str(exc)]
            assert problems == [], (
                f"{target.name} is there but damaged after a cut {self.where()}: {problems}"
            )
            state = "finished" if returned else "complete"
        assert not [n for n in leftovers if not n.endswith(".partial")], leftovers
        self.figures.exports[state] = self.figures.exports.get(state, 0) + 1

    def check_settled(self) -> None:
        """The config file in place is the one the ledger says the hub runs."""
        ledger = self._ledger()
        try:
            written = {v: text for text, v in self._written(ledger).items()}
            row = ledger.execute(
                "SELECT version FROM config_history WHERE status = 'applied' ORDER BY version DESC LIMIT 1"
            ).fetchone()
            last = ledger.execute(
                "SELECT status FROM config_history WHERE sha256 = ?", (self.pushed,)
            ).fetchone()
            (accepted,) = ledger.execute("SELECT coalesce(max(version), 0) FROM config_history").fetchone()
        finally:
            ledger.close()
        running = row[0] if row else 0
        assert files.read(self.config) == written[running], (
            f"the ledger says v{running} runs, yet the config file is another {self.where()}"
        )
        if self.pushed is not None and self.pushed != self.counted:
            self.counted = self.pushed
            outcome = last[0] if last else "rejected"
            self.figures.settled[outcome] = self.figures.settled.get(outcome, 0) + 1
        self.next_version = accepted + 1


def run_cuts(tmp_path: Path, rig: LazyMount, broker: Broker, cuts: int) -> Figures:
    seed = int(os.environ.get("HEARTH_POWERCUT_SEED", random.randrange(1 << 30)))
    print(f"apply/export cut seed {seed}")
    run = ApplyAndExportCuts(tmp_path, rig, broker, seed)
    try:
        for _ in range(cuts):
            run.one_cut()
        run.start()
        run.settle()
        run.check_settled()
        run.stop()
    finally:
        for proc in (run.hub, run.exporter):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    figures = run.figures
    print(
        f"{cuts} cuts {figures.cuts}, {figures.torn} torn writes; config file right after a push's cut:"
        f" {figures.config_at_cut} (all whole); pushes settled by the next start: {figures.settled};"
        f" exports at the cut: {figures.exports}; push cuts armed before config-folder change n:"
        f" {dict(sorted(figures.steps.items()))}"
    )
    return figures


def test_power_cuts_during_applies_rollbacks_and_exports(
    tmp_path: Path, rig: LazyMount, broker: Broker
) -> None:
    figures = run_cuts(tmp_path, rig, broker, cuts=6)
    assert sum(figures.cuts.values()) == 6


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_two_hundred_power_cuts_during_applies_rollbacks_and_exports(
    tmp_path: Path, rig: LazyMount, broker: Broker
) -> None:
    figures = run_cuts(tmp_path, rig, broker, cuts=200)
    assert sum(figures.cuts.values()) == 200
