"""Staged rollouts against real hubs on a real Mosquitto: a bad canary halts and is reverted; a manager
killed mid-rollout resumes where it was."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pwd
import shutil
import signal
import sqlite3
import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fleet_support import PLUG, running, watching, write_hub

from agent.fleet import rollout_run, rollout_state
from agent.fleet.manager import collect
from agent.fleet.mqtt import endpoint_from_url
from agent.fleet.rollout import Note, Phase, make_plan, share
from agent.sources.simulated import resolve_data_file
from tests.conftest import REPO, eventually, hearth
from tests.testbed.fleet_hubs import BareHub, serving, write_bare_hub
from tests.testbed.mosquitto import Mosquitto as SharedMosquitto

# A second plug whose data file sits next to each hub's config: a hub without it cannot run this config.
EXTRA = f"""{PLUG}
[[sources]]
kind = "simulated"
name = "extra"
file = "extra.csv"
rate = 50
"""


def _fleet(root: Path, ids: list[str], key: Ed25519PrivateKey, port: int, *, without: set[str]) -> list[Path]:
    paths = []
    for hub in ids:
        path = write_hub(root, hub, key=key, port=port, groups=["kitchens"])
        if hub not in without:
            shutil.copy(resolve_data_file("builtin:kettle_plug.csv"), path.parent / "extra.csv")
        paths.append(path)
    return paths


async def test_a_document_failing_on_the_canary_halts_there_and_the_hubs_that_took_it_are_reverted(
    tmp_path: Path, broker: int, fleet_key: Ed25519PrivateKey
) -> None:
    ids = [f"hub-{n:02d}" for n in range(10)]
    seed = 11
    drawn = make_plan(
        ids, version=1, revert_version=2, canary="4", waves=["50%"], seed=seed, success=1, halt_at=0, window=1
    )
    canary, unreached = drawn.wave(0), drawn.order[4:]
    broken = canary[0]  # the one canary hub that cannot run the new config
    paths = _fleet(tmp_path, ids, fleet_key, broker, without={broken})
    endpoint = endpoint_from_url(f"mqtt://127.0.0.1:{broker}")
    db = rollout_state.open_state(tmp_path / "manager" / "rollouts.db")
    notes: list[Note] = []
    async with watching(broker) as watcher, running(paths) as hubs:
        await watcher.wait_for(ids, "provisioned", None)
        view = await collect(endpoint, "hearth/v1", 0.5)
        rollout_id = rollout_run.plan(
            db,
            view,
            terms=rollout_state.Terms("group:kitchens", EXTRA, "toml", PLUG, "toml", int(time.time()), 2**40),
            key=fleet_key,
            version=1,
            canary="4",
            waves=["50%"],
            seed=seed,
            success=share("90%", "--success"),
            halt_at=share("10%", "--halt-at"),
            window=60,
            base_dir=tmp_path,
            settings={},
            now=time.time(),
        )
        ended = await rollout_run.drive(
            db, rollout_id, key=fleet_key, endpoint=endpoint, prefix="hearth/v1", say=notes.append
        )
        assert ended.state.phase == Phase.REVERTED
        took = [h for h in canary if h != broken]
        await watcher.wait_for(took, "applied", 2)
        for hub in hubs:
            hub_id = hub.agent.config.hub.id
            assert hub.agent.source_runner("extra") is None, hub_id
        assert watcher.state(broken) in {("rolled_back", 1), ("rejected", 1)}
        assert watcher.reports[broken].running_version == 0
        for hub in unreached:  # never sent anything
            assert watcher.state(hub) == ("provisioned", None)
            assert all(version is None for h, _, version in watcher.seen if h == hub)
    decisions = [n.decision for n in notes]
    assert decisions == ["sent", "halt", "reverted"]
    halt = notes[1]
    assert halt.figures["failed"] == 1
    assert halt.figures["wave_hubs"] == 4
    assert "1/4 of wave 0 rejected or rolled back (25% > 10%)" in halt.message
    assert notes[2].figures["hubs"] == 3
    stored = [d.decision for d in rollout_state.decisions(db, rollout_id)]
    assert stored == ["plan", "sent", "halt", "reverted"]


def _state(path: Path) -> tuple[str, int]:
    """The newest rollout's phase and wave, read as another process sees them ("" while there is none)."""
    if not path.exists():
        return ("", -1)
    with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as db:
        try:
            row = db.execute("SELECT phase, wave FROM rollouts ORDER BY id DESC LIMIT 1").fetchone()
        except sqlite3.OperationalError:  # the manager is still creating the file
            return ("", -1)
    return (str(row[0]), int(row[1])) if row else ("", -1)


async def test_a_manager_killed_mid_rollout_resumes_where_it_was(
    tmp_path: Path, broker: int, fleet_key: Ed25519PrivateKey
) -> None:
    ids = [f"hub-{n}" for n in range(5)]
    seed = 5
    order = make_plan(
        ids, version=1, revert_version=2, canary="1", waves=["50%"], seed=seed, success=1, halt_at=0, window=1
    ).order
    late = order[-1]  # in the last wave, and down when it goes out
    paths = _fleet(tmp_path, ids, fleet_key, broker, without=set())
    late_path = next(p for p in paths if p.parent.name == late)
    key_file = tmp_path / "fleet.key"
    key_file.write_bytes(
        fleet_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    new, old = tmp_path / "extra.toml", tmp_path / "plug.toml"
    new.write_text(EXTRA)
    old.write_text(PLUG)
    state = tmp_path / "manager" / "rollouts.db"
    url = f"mqtt://127.0.0.1:{broker}"
    async with watching(broker) as watcher:
        async with running([late_path]):  # it reports once, then goes away
            await watcher.wait_for([late], "provisioned", None)
        async with running([p for p in paths if p != late_path]):
            manager = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "agent", "fleet", "rollout", "start", str(new),
                "--key", str(key_file), "--version", "1", "--target", "group:kitchens", "--broker", url,
                "--revert-to", str(old), "--canary", "1", "--waves", "50%", "--seed", str(seed),
                "--success", "100%", "--halt-at", "0%", "--window", "5m", "--bake", "0s",
                "--discover", "500ms",
                "--state", str(state),
                cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            try:
                await eventually(lambda: _state(state) == ("gating", 2), "the last wave", 60)
                await watcher.wait_for([h for h in ids if h != late], "applied", 1)
            finally:
                manager.send_signal(signal.SIGKILL)
                out, err = await manager.communicate()
            assert manager.returncode == -signal.SIGKILL, err.decode()
            assert "canary: v1 sent to 1 hubs (1/5 reached)" in out.decode()
            assert _state(state) == ("gating", 2)
            assert state.stat().st_mode & 0o777 == 0o600

            # Nobody drives it now: a pause holds it as it is.
            paused = await asyncio.to_thread(hearth, "fleet", "rollout", "pause", "--state", str(state))
            assert paused.returncode == 0, paused.stderr
            assert _state(state) == ("paused", 2)

            async with running([late_path]):  # back: it finds its document waiting, retained
                await watcher.wait_for(ids, "applied", 1)
                resumed = await asyncio.to_thread(hearth, "fleet", "rollout", "resume", "--state", str(state))
                assert resumed.returncode == 0, resumed.stdout + resumed.stderr
                assert "done: 2/2 of wave 2 applied" in resumed.stdout
                assert "rollout 1: done" in resumed.stdout
    # Every hub handled one document, once: no copy signed anew was taken for a replay.
    assert {(h, s, v) for h, s, v in watcher.seen if v is not None} == {
        (h, s, 1) for h in ids for s in ("applying", "applied")
    }
    shown = hearth("fleet", "rollout", "status", "--state", str(state), "--json")
    assert shown.returncode == 0, shown.stderr
    summary = json.loads(shown.stdout)
    assert summary["phase"] == "done"
    assert summary["waves"] == [1, 2, 2]
    assert [d["decision"] for d in summary["decisions"]] == [
        "plan", "sent", "proceed", "sent", "proceed", "sent", "pause", "resume", "done",
    ]  # fmt: skip


async def test_a_manager_that_loses_the_broker_mid_rollout_goes_on_when_it_is_back(
    tmp_path: Path, fleet_key: Ed25519PrivateKey
) -> None:
    (tmp_path / "broker").mkdir()
    (tmp_path / "retained").mkdir()
    # It keeps the retained documents across its restart; as root it would write them as "mosquitto".
    user = f"user {pwd.getpwuid(os.getuid()).pw_name}\n"
    broker = SharedMosquitto(tmp_path / "broker", extra_conf=user, persistence=tmp_path / "retained")
    ids = [f"hub-{n}" for n in range(4)]
    drawn = make_plan(
        ids, version=1, revert_version=2, canary="1", waves=[], seed=9, success=1, halt_at=0, window=1
    )
    late = drawn.order[-1]  # in the second wave, and away when it goes out
    paths = {
        h: write_bare_hub(tmp_path / "hubs", h, key=fleet_key, port=broker.port, groups=["g"]) for h in ids
    }
    endpoint = endpoint_from_url(f"mqtt://127.0.0.1:{broker.port}")
    state = tmp_path / "manager" / "rollouts.db"
    db = rollout_state.open_state(state)
    notes: list[Note] = []
    broker.start()
    try:
        async with watching(broker.port) as watcher, serving([BareHub(paths[late])]):
            await watcher.wait_for([late], "provisioned", None)
        others = [BareHub(paths[h]) for h in ids if h != late]
        async with serving(others):
            async with watching(broker.port) as watcher:
                await watcher.wait_for([h for h in ids if h != late], "provisioned", None)
                now = int(time.time())
                rollout_id = rollout_run.plan(
                    db,
                    await collect(endpoint, "hearth/v1", 0.5),
                    terms=rollout_state.Terms(
                        "group:g", '[hub]\nname = "new"\n', "toml", "", "toml", now, now + 600
                    ),
                    key=fleet_key,
                    version=1,
                    canary="1",
                    waves=[],
                    seed=9,
                    success=1.0,
                    halt_at=0.0,
                    window=300,
                    base_dir=tmp_path,
                    settings={},
                    now=time.time(),
                )
                driving = asyncio.create_task(
                    rollout_run.drive(
                        db, rollout_id, key=fleet_key, endpoint=endpoint, prefix="hearth/v1", say=notes.append
                    )
                )
                await eventually(lambda: _state(state) == ("gating", 1), "the second wave to go out", 30)
                await watcher.wait_for([h for h in ids if h != late], "applied", 1)
            lost_at = time.monotonic()
            broker.stop()  # the manager and the hubs lose it, mid-wave
            assert not driving.done()
            broker.start()
            async with serving([BareHub(paths[late])]):  # back, it finds its document retained
                ended = await asyncio.wait_for(driving, 60)
            print(f"\nthe rollout was done {time.monotonic() - lost_at:.1f} s after the broker went away")
    finally:
        broker.stop()
    assert ended.state.phase == Phase.DONE
    # Nothing was decided twice: each wave went out once and passed once.
    assert [n.decision for n in notes] == ["sent", "proceed", "sent", "done"]
