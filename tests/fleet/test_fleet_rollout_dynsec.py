"""A 50-hub rollout end to end on a Mosquitto with per-hub ACLs: two waves pass, the third halts on the
hubs that fail their health check, and every hub reached is put back."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import aiomqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.config.schema import BrokerConfig
from agent.fleet import enroll, rollout_run, rollout_state
from agent.fleet.manager import FleetView, collect, follow_fleet
from agent.fleet.rollout import Note, Phase, make_plan
from agent.fleet.rollout_state import Terms
from tests.conftest import eventually
from tests.testbed.dynsec import ADMIN, DynsecMosquitto
from tests.testbed.fleet_hubs import FAILING_NAME, BareHub, serving, write_bare_hub

HUBS = [f"hub-{n:02d}" for n in range(50)]
GROUP = "street"
SEED = 3
WAVES = {"canary": "2", "waves": ["20%", "60%"]}  # 2, then 8, 20 and 20 hubs


def config(name: str) -> str:
    return f'[hub]\nname = "{name}"\ngroups = ["{GROUP}"]\n'


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[DynsecMosquitto]:
    folder = tmp_path / "broker"
    folder.mkdir()
    with DynsecMosquitto(folder, admin_password="admin-pw") as server:
        yield server


@contextlib.asynccontextmanager
async def following(endpoint: BrokerConfig, password: str) -> AsyncIterator[FleetView]:
    """Every hub's report, read as the manager's user, for the block."""
    view = FleetView()
    async with aiomqtt.Client("127.0.0.1", endpoint.port or 1883, username="hq", password=password) as mqtt:
        await follow_fleet(mqtt, "hearth/v1")

        async def read() -> None:
            async for message in mqtt.messages:
                view.take(str(message.topic), message.payload)

        task = asyncio.create_task(read())
        try:
            yield view
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _all(view: FleetView, hubs: list[str], test: Callable[[int, str, int | None], bool]) -> bool:
    return all(h in view.reports and test(view.reports[h].running_version, *_last(view, h)) for h in hubs)


def _last(view: FleetView, hub: str) -> tuple[str, int | None]:
    return view.reports[hub].state, view.reports[hub].version


async def test_a_rollout_over_50_hubs_with_acls_halts_in_the_wave_that_fails_and_reverts_every_hub_reached(
    tmp_path: Path, secured: DynsecMosquitto, fleet_key: Ed25519PrivateKey
) -> None:
    port = secured.port
    drawn = make_plan(
        HUBS,
        version=1,
        revert_version=2,
        seed=SEED,
        success=0.9,
        halt_at=0.1,
        window=60,
        **WAVES,  # type: ignore[arg-type]
    )
    assert [len(drawn.wave(k)) for k in range(4)] == [2, 8, 20, 20]
    failing = set(drawn.wave(2)[:3])  # 3/20 = 15 % of the third wave cannot run the new config
    passwords = {name: enroll.new_password() for name in ["hq", *HUBS]}
    admin_password = tmp_path / "admin.password"
    admin_password.write_text("admin-pw")
    admin = BrokerConfig(
        host="127.0.0.1", port=port, tls=False, username=ADMIN, password_file=str(admin_password)
    )
    commands = enroll.enrol_commands(
        "hq", passwords["hq"], enroll.MANAGER_ROLE, enroll.manager_acls("hearth/v1")
    )
    hubs = []
    for hub in HUBS:
        commands += enroll.enrol_commands(
            hub, passwords[hub], enroll.hub_role(hub), enroll.hub_acls("hearth/v1", hub, [GROUP])
        )
        secret = tmp_path / "credentials" / f"{hub}.password"
        secret.parent.mkdir(exist_ok=True)
        secret.write_text(passwords[hub])
        path = write_bare_hub(
            tmp_path / "hubs", hub, key=fleet_key, port=port, groups=[GROUP], password_file=secret
        )
        hubs.append(BareHub(path, failing=hub in failing))
    await enroll.apply(admin, commands)
    (tmp_path / "hq.password").write_text(passwords["hq"])
    manager = BrokerConfig(
        host="127.0.0.1", port=port, tls=False, username="hq", password_file=str(tmp_path / "hq.password")
    )
    db = rollout_state.open_state(tmp_path / "manager" / "rollouts.db")
    notes: list[Note] = []
    async with following(manager, passwords["hq"]) as view, serving(hubs):
        await eventually(
            lambda: _all(view, HUBS, lambda run, state, v: state == "provisioned"), "50 hubs", 60
        )
        now = int(time.time())
        rollout_id = rollout_run.plan(
            db,
            await collect(manager, "hearth/v1", 0.5),
            terms=Terms(
                f"group:{GROUP}", config(FAILING_NAME), "toml", config("before"), "toml", now, now + 3600
            ),
            key=fleet_key,
            version=1,
            seed=SEED,
            success=0.9,
            halt_at=0.1,
            window=60,
            base_dir=tmp_path,
            settings={},
            now=time.time(),
            **WAVES,  # type: ignore[arg-type]
        )
        ended = await rollout_run.drive(
            db, rollout_id, key=fleet_key, endpoint=manager, prefix="hearth/v1", say=notes.append
        )
        assert ended.state.phase == Phase.REVERTED
        assert ended.state.wave == 2
        reached = list(drawn.reached(2))
        put_back = [h for h in reached if h not in failing]
        await eventually(
            lambda: _all(view, put_back, lambda run, s, v: (s, v) == ("applied", 2)), "the revert", 60
        )
        assert _all(view, sorted(failing), lambda run, s, v: (s, v, run) == ("rolled_back", 1, 0))
        assert _all(view, list(drawn.wave(3)), lambda run, s, v: (s, v, run) == ("provisioned", None, 0))
        assert not any(r.running_version == 1 for r in view.reports.values())
        for hub in hubs:
            assert hub.config.hub.name in {"", "before"}, hub.config.hub.id
    assert [n.decision for n in notes] == ["sent", "proceed", "sent", "proceed", "sent", "halt", "reverted"]
    halt = notes[5]
    assert halt.figures["failed"] == 3
    assert halt.figures["wave_hubs"] == 20
    assert "3/20 of wave 2 rejected or rolled back (15% > 10%)" in halt.message
    assert notes[-1].figures["hubs"] == len(put_back) == 27
