"""A fleet of 1,000 hubs on one real Mosquitto: a flat push, a staged rollout, and a rollout that must halt.

Each hub runs the real fleet service (signature check, validation, apply with the config file swapped and the
ledger written, confirmation window, report) with no sources, in worker processes (250 hubs each); every hub
has its own broker user and ACL (Mosquitto's dynamic security plugin, enrolled as ``hearth fleet enroll``
does). The manager is the real ``hearth fleet rollout`` command in its own process.

1. Baseline: one signed document pushed to the whole group at once; seconds until every hub reported
   ``applied``.
2. A rollout of the next version: canary (1 %) → 10 % → 50 % → 100 %, each wave watched for a 2 s health
   window (``--bake 2s``) once 95 % of it applied; seconds from the plan to the last wave's decision (the
   manager's own log), the manager's peak RSS and CPU time, and broker messages (in + out, every MQTT packet
   type, from $SYS) per hub.
3. A rollout in which 5 % of the hubs (drawn with a fixed seed) fail their health check: where it halted,
   how much of the fleet it reached, and that the revert left no hub on the bad version.

Target: rollout <= 3 x the flat push + the health windows (the JSON line's value is the rollout minus its
windows, its ratio that over the flat push); the failing rollout halts after the canary or the first wave,
leaving >= 90 % of the fleet never exposed to the bad version.
Run: python benchmarks/fleet_scale.py [--quick] [--hubs N] [--per-worker N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import aiomqtt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.config.schema import BrokerConfig
from agent.fleet import enroll
from agent.fleet.document import Envelope, encode, key_id, sign
from agent.fleet.manager import decode_status
from agent.fleet.report import Status
from tests.testbed.dynsec import ADMIN, DynsecMosquitto
from tests.testbed.fleet_hubs import FAILING_NAME, BareHub, serving, write_bare_hub

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import report

ROOT = Path(__file__).resolve().parent.parent
ADMIN_PASSWORD = "bench-admin"
GROUP = "fleet"
WINDOW_S = 2.0
WAVES = 4  # canary, 10 %, 50 %, 100 %


def config_text(name: str) -> str:
    return f'[hub]\nname = "{name}"\ngroups = ["{GROUP}"]\n\n[store]\nflush_interval = "1s"\n'


# -- the worker: many bare hubs, each with the real fleet service ------------------------------------------


async def run_worker(spec: list[tuple[str, bool]]) -> None:
    """Run the fleet service of every hub in ``spec`` (config path, fails the bad config) until SIGTERM."""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with serving([BareHub(Path(path), failing=failing) for path, failing in spec]):
        await stop.wait()


# -- the bench ------------------------------------------------------------------------------------------


class Fleet:
    """Every hub's latest report, followed as the manager's user."""

    def __init__(self) -> None:
        self.reports: dict[str, Status] = {}
        self.changed = asyncio.Event()

    def count(self, state: str, version: int) -> int:
        return sum(1 for r in self.reports.values() if r.state == state and r.version == version)

    async def until(self, what: str, done: Callable[[], bool], within: float) -> None:
        """Wait for ``done()`` as reports come in; fail naming ``what`` after ``within`` s."""
        try:
            async with asyncio.timeout(within):
                while not done():
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            states: dict[tuple[str, int | None], int] = {}
            for r in self.reports.values():
                states[r.state, r.version] = states.get((r.state, r.version), 0) + 1
            raise RuntimeError(f"timed out waiting for {what}; hubs by (state, version): {states}") from None


class Published(NamedTuple):
    received: int
    sent: int


async def sys_counts(port: int) -> Published:
    """The broker's message counters (all packet types, in and out; $SYS, refreshed every second), as of
    its next refresh after this call."""
    values: dict[str, int] = {}
    sent_updates = 0
    async with aiomqtt.Client("127.0.0.1", port, username=ADMIN, password=ADMIN_PASSWORD) as admin:
        await admin.subscribe("$SYS/broker/messages/received")
        await admin.subscribe("$SYS/broker/messages/sent")
        async for message in admin.messages:
            which = str(message.topic).rsplit("/", 1)[1]
            values[which] = int(message.payload)
            if which == "sent":
                sent_updates += 1  # the first is the retained value; the second, a refresh after now
                if sent_updates == 2 and "received" in values:
                    break
    return Published(values["received"], values["sent"])


def document(key: Ed25519PrivateKey, version: int, name: str) -> bytes:
    now = int(time.time())
    envelope = Envelope(
        version=version,
        target=f"group:{GROUP}",
        issued_at=now,
        expires_at=now + 3600,
        key_id=key_id(key.public_key()),
        config_format="toml",
        config=config_text(name),
    )
    return encode(sign(envelope, key))


class Manager(NamedTuple):
    returncode: int
    rss_mb: float
    cpu_s: float
    wall_s: float
    output: str


def run_manager(args: list[str]) -> Manager:
    """Run ``hearth fleet rollout ...`` to its end; its exit code, peak RSS, CPU time and output."""
    started = time.monotonic()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent", "fleet", "rollout", *args], cwd=ROOT, stdout=out, stderr=out
        )
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    return Manager(
        proc.returncode,
        usage.ru_maxrss / 1024,
        usage.ru_utime + usage.ru_stime,
        time.monotonic() - started,
        text,
    )


def rollout_status(state: Path) -> dict[str, Any]:
    shown = subprocess.run(
        [sys.executable, "-m", "agent", "fleet", "rollout", "status", "--state", str(state), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    found: dict[str, Any] = json.loads(shown.stdout)
    return found


def bench(hubs: int, per_worker: int) -> None:
    """Enrol and start ``hubs`` hubs (``per_worker`` per process) on a dynsec Mosquitto, then measure."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the broker inherits it: one socket per hub
    key = Ed25519PrivateKey.generate()
    ids = [f"hub-{n:04d}" for n in range(hubs)]
    failing = set(random.Random(5).sample(ids, max(1, hubs * 5 // 100)))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "broker").mkdir()
        (folder / "fleet.key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        for name in ("flat", "good"):
            (folder / f"{name}.toml").write_text(config_text(name))
        (folder / "bad.toml").write_text(config_text(FAILING_NAME))
        (folder / "admin.password").write_text(ADMIN_PASSWORD)
        with DynsecMosquitto(
            folder / "broker", admin_password=ADMIN_PASSWORD, extra_conf="sys_interval 1\n"
        ) as mq:
            started = time.monotonic()
            passwords = {name: enroll.new_password() for name in ["hq", *ids]}
            asyncio.run(enrol(folder, mq.port, passwords))
            credentials = folder / "credentials"
            credentials.mkdir()
            for name, password in passwords.items():
                (credentials / f"{name}.password").write_text(password)
            paths = [
                write_bare_hub(
                    folder / "hubs",
                    h,
                    key=key,
                    port=mq.port,
                    groups=[GROUP],
                    password_file=credentials / f"{h}.password",
                )
                for h in ids
            ]
            took = time.monotonic() - started
            print(f"enrolled {hubs} hubs and a manager (dynsec users and ACLs) in {took:.1f} s")
            workers = start_workers(
                folder, [(str(p), h in failing) for p, h in zip(paths, ids, strict=True)], per_worker
            )
            try:
                asyncio.run(
                    measure(folder, mq.port, key, hubs=hubs, failing=len(failing), password=passwords["hq"])
                )
            finally:
                for worker in workers:
                    worker.send_signal(signal.SIGTERM)
                for worker in workers:
                    try:
                        worker.wait(timeout=60)
                    except subprocess.TimeoutExpired:
                        worker.kill()
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def enrol(folder: Path, port: int, passwords: dict[str, str]) -> None:
    """Make the manager's and every hub's broker user and role, as `hearth fleet enroll` does."""
    admin = BrokerConfig(
        host="127.0.0.1", port=port, tls=False, username=ADMIN, password_file=str(folder / "admin.password")
    )
    commands = enroll.enrol_commands(
        "hq", passwords["hq"], enroll.MANAGER_ROLE, enroll.manager_acls("hearth/v1")
    )
    for hub, password in passwords.items():
        if hub == "hq":
            continue
        role, acls = enroll.hub_role(hub), enroll.hub_acls("hearth/v1", hub, [GROUP])
        commands += enroll.enrol_commands(hub, password, role, acls)
        if len(commands) >= 200:
            await enroll.apply(admin, commands)
            commands = []
    if commands:
        await enroll.apply(admin, commands)


def start_workers(
    folder: Path, hubs: list[tuple[str, bool]], per_worker: int
) -> list[subprocess.Popen[bytes]]:
    """Worker processes running ``per_worker`` hubs each (config path, whether it fails the bad config)."""
    workers = []
    for n, first in enumerate(range(0, len(hubs), per_worker)):
        spec = folder / f"worker-{n}.json"
        spec.write_text(json.dumps(hubs[first : first + per_worker]))
        with (folder / f"worker-{n}.log").open("wb") as log:
            workers.append(
                subprocess.Popen([sys.executable, __file__, "--worker", str(spec)], cwd=ROOT, stderr=log)
            )
    return workers


class Run(NamedTuple):
    """What the measuring steps share."""

    folder: Path
    port: int
    key: Ed25519PrivateKey
    hubs: int
    fleet: Fleet
    hq: aiomqtt.Client
    manager: list[str]  # the options every `hearth fleet rollout start` here takes


async def measure(
    folder: Path, port: int, key: Ed25519PrivateKey, *, hubs: int, failing: int, password: str
) -> None:
    """The three runs, against hubs already started; ends with the JSON line."""
    fleet = Fleet()
    manager = [
        "--key", str(folder / "fleet.key"), "--target", f"group:{GROUP}", "--broker", f"mqtt://hq@127.0.0.1:{port}",
        "--password-file", str(folder / "credentials" / "hq.password"), "--canary", "1%",
        "--waves", "10%,50%,100%", "--window", "10m", "--bake", f"{WINDOW_S:g}s", "--discover", "1s",
    ]  # fmt: skip
    async with aiomqtt.Client("127.0.0.1", port, username="hq", password=password) as hq:
        await hq.subscribe("hearth/v1/+/fleet", qos=1)

        async def follow() -> None:
            async for message in hq.messages:
                if (found := decode_status(message.payload)) is not None:
                    fleet.reports[found.hub] = found
                    fleet.changed.set()

        reader = asyncio.create_task(follow())
        started = time.monotonic()
        await fleet.until("all hubs up", lambda: len(fleet.reports) == hubs, 600)
        print(f"{hubs} hubs connected and reported in {time.monotonic() - started:.1f} s")
        run = Run(folder, port, key, hubs, fleet, hq, manager)
        flat_s = await flat_push(run)
        rollout_s = await good_rollout(run)
        halted_wave, untouched, on_bad = await failing_rollout(run, failing)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    windows = WAVES * WINDOW_S
    beyond = rollout_s - windows  # the rollout's own cost: its time outside the health windows it waits out
    met = beyond <= 3 * flat_s and halted_wave <= 1 and untouched >= 0.9 and on_bad == 0
    print(
        f"rollout {rollout_s:.2f} s = {windows:g} s of health windows + {beyond:.2f} s, vs the flat push "
        f"{flat_s:.2f} s ({beyond / flat_s:.2f} x); halted in wave {halted_wave}, {100 * untouched:.1f} % "
        f"untouched: {'met' if met else 'MISSED'}"
    )
    report(
        f"fleet_scale_{hubs}_hubs",
        beyond,
        "s",
        baseline=flat_s,
        ratio=beyond / flat_s,
        target=f"<= 3 (rollout minus its {WAVES} x {WINDOW_S:g} s windows, over a flat push); halt by wave 1",
    )


async def messages_per_hub(run: Run, before: Published) -> float:
    after = await sys_counts(run.port)
    return (after.received - before.received + after.sent - before.sent) / run.hubs


async def flat_push(run: Run) -> float:
    """The baseline: v1 to the whole group at once; seconds until every hub applied it."""
    before = await sys_counts(run.port)
    started = time.monotonic()
    await run.hq.publish(f"hearth/v1/fleet/group/{GROUP}", document(run.key, 1, "flat"), qos=1, retain=True)
    await run.fleet.until("flat push applied", lambda: run.fleet.count("applied", 1) == run.hubs, 600)
    took = time.monotonic() - started
    per_hub = await messages_per_hub(run, before)
    print(f"flat push to {run.hubs} hubs: all applied in {took:.2f} s; {per_hub:.1f} broker messages per hub")
    return took


async def good_rollout(run: Run) -> float:
    """v2 in waves; seconds from the plan to the last decision, by the manager's own log."""
    folder = run.folder
    state = folder / "good.db"
    before = await sys_counts(run.port)
    good = await asyncio.to_thread(
        run_manager,
        ["start", str(folder / "good.toml"), "--version", "2", "--revert-to", str(folder / "flat.toml"),
         "--success", "95%", "--halt-at", "10%", "--seed", "1", "--state", str(state), *run.manager],
    )  # fmt: skip
    if good.returncode != 0:
        raise RuntimeError(f"the rollout did not finish:\n{good.output}")
    await run.fleet.until("rollout applied", lambda: run.fleet.count("applied", 2) == run.hubs, 600)
    per_hub = await messages_per_hub(run, before)
    decisions: list[dict[str, Any]] = rollout_status(state)["decisions"]
    took = float(decisions[-1]["at"] - decisions[0]["at"])
    gated = [round(d["figures"]["passed_s"], 2) for d in decisions if d["decision"] in {"proceed", "done"}]
    print(
        f"rollout to {run.hubs} hubs (canary 1 %, 10 %, 50 %, 100 %; {WINDOW_S:g} s windows): plan to done "
        f"{took:.2f} s (each wave reached 95 % applied after {gated} s, then was watched {WINDOW_S:g} s); "
        f"manager process {good.wall_s:.2f} s wall, "
        f"{good.cpu_s:.2f} s CPU, {good.rss_mb:.1f} MB peak RSS; {per_hub:.1f} broker messages per hub"
    )
    return took


async def failing_rollout(run: Run, failing: int) -> tuple[int, float, int]:
    """v3, which ``failing`` hubs cannot run: the wave it halted in, the share never sent it, hubs on it."""
    folder = run.folder
    state = folder / "bad.db"
    bad = await asyncio.to_thread(
        run_manager,
        ["start", str(folder / "bad.toml"), "--version", "3", "--revert-to", str(folder / "good.toml"),
         "--success", "95%", "--halt-at", "2%", "--seed", "2", "--state", str(state), *run.manager],
    )  # fmt: skip
    summary = rollout_status(state)
    if summary["phase"] != "reverted":
        raise RuntimeError(f"the failing rollout was not reverted:\n{bad.output}")
    reached, wave = int(summary["reached"]), int(summary["wave"])
    halt = next(d for d in summary["decisions"] if d["decision"] == "halt")
    reverted = int(next(d for d in summary["decisions"] if d["decision"] == "reverted")["figures"]["hubs"])
    await run.fleet.until("revert applied", lambda: run.fleet.count("applied", 4) == reverted, 600)
    on_bad = sum(1 for r in run.fleet.reports.values() if r.running_version == 3)
    untouched = (run.hubs - reached) / run.hubs
    print(
        f"failing rollout ({failing} hubs, {100 * failing / run.hubs:.0f} %, fail their health check): "
        f"halted "
        f"in wave {wave} ({halt['message']}); {reached} hubs reached, {reverted} reverted to the previous "
        f"config as v4; {on_bad} left on the bad version; {100 * untouched:.1f} % of the fleet never sent it"
    )
    return wave, untouched, on_bad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a CI-sized run (200 hubs)")
    parser.add_argument("--hubs", type=int, default=None)
    parser.add_argument("--per-worker", type=int, default=250, help="hubs per worker process")
    parser.add_argument("--worker", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        asyncio.run(run_worker(json.loads(args.worker.read_text())))
        return
    bench(args.hubs or (200 if args.quick else 1000), args.per_worker)


if __name__ == "__main__":
    main()
