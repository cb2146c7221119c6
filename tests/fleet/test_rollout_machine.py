"""The rollout state machine, pure: canary draw, gates, halt and revert, pause/resume, a restart mid-wave."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.errors import AgentError, ConfigError
from agent.fleet import rollout_state
from agent.fleet.document import decode
from agent.fleet.report import Status
from agent.fleet.rollout import (
    Note,
    Phase,
    Plan,
    Request,
    State,
    Step,
    evaluate,
    make_plan,
    published,
    revert_targets,
    to_publish,
    wake_at,
)
from agent.fleet.rollout_run import document_for
from tests.conftest import hearth

HUBS = [f"hub-{n:03d}" for n in range(50)]


def plan(hubs: list[str] = HUBS, **gates: object) -> Plan:
    options: dict[str, object] = {
        "version": 8,
        "revert_version": 9,
        "canary": "2",
        "waves": ["10%", "50%", "100%"],
        "seed": 7,
        "success": 0.9,
        "halt_at": 0.1,
        "window": 60.0,
    }
    options.update(gates)
    return make_plan(hubs, **options)  # type: ignore[arg-type]


def report(hub: str, state: str, version: int | None, running: int = 1) -> Status:
    return Status(hub=hub, state=state, version=version, reason="", running_version=running, at=0.0)


def applied(hubs: tuple[str, ...], version: int = 8) -> dict[str, Status]:
    return {h: report(h, "applied", version, running=version) for h in hubs}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def send(p: Plan, state: State, now: float) -> State:
    """Carry out the current phase's publish."""
    out = to_publish(p, state, {})
    assert out is not None
    return published(p, state, out, now).state


def test_the_canary_and_the_order_are_drawn_again_by_the_same_seed() -> None:
    first, again = plan(seed=7), plan(list(reversed(HUBS)), seed=7)
    assert first.order == again.order
    assert sorted(first.order) == HUBS
    assert plan(seed=8).order != first.order
    # Canary of 2, then 10 %, 50 %, 100 % of 50 hubs.
    assert first.ends == (2, 5, 25, 50)
    assert [len(first.wave(k)) for k in range(4)] == [2, 3, 20, 25]
    assert plan(canary="5%").ends == (3, 5, 25, 50)
    # A wave share below the canary is merged into it; 100 % is always last.
    assert plan(canary="10", waves=["10%", "60%"]).ends == (10, 30, 50)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("canary", "0", "at least 1 hub"),
        ("canary", "some", "a number of hubs or a share"),
        ("waves", ["150%"], "between 0% and 100%"),
        ("waves", ["ten"], "a share such as 90%"),
    ],
)
def test_bad_wave_sizes_are_named(option: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        plan(**{option: value})


def test_no_hubs_is_an_error() -> None:
    with pytest.raises(ConfigError, match="no hubs in the target"):
        plan([])


def test_a_healthy_canary_opens_the_next_wave_and_the_last_wave_finishes() -> None:
    p, clock = plan(), Clock()
    state = send(p, State(Phase.SENDING, 0), clock())
    assert state == State(Phase.GATING, 0, clock.now)

    clock.now += 3
    assert evaluate(p, state, clock(), reports={}, links={}).note is None  # nobody said anything yet
    step = evaluate(p, state, clock(), reports=applied(p.wave(0)), links={})
    assert step.state == State(Phase.SENDING, 1)
    assert step.note is not None
    assert step.note.decision == "proceed"
    assert step.note.figures["applied"] == 2
    assert "2/2 of wave 0 applied (100% >= 90%) after 3.0 s" in step.note.message

    state = step.state
    reports = applied(p.wave(0))
    for k in range(1, 4):
        assert to_publish(p, state, reports) == (8, p.wave(k), False)
        state = send(p, state, clock())
        reports |= applied(p.wave(k))
        step = evaluate(p, state, clock(), reports=reports, links={})
        state = step.state
    assert state.phase == Phase.DONE
    assert step.note is not None
    assert step.note.decision == "done"


def test_a_failing_canary_halts_and_the_hubs_reached_are_reverted() -> None:
    p, clock = plan(canary="4", waves=["100%"]), Clock()
    state = send(p, State(Phase.SENDING, 0), clock())
    a, b, c, d = p.wave(0)
    reports = {
        a: report(a, "applied", 8, running=8),
        b: report(b, "rolled_back", 8),
        c: report(c, "rejected", 8),
    }
    step = evaluate(p, state, clock(), reports=reports, links={})
    assert step.state.phase == Phase.REVERTING
    assert step.note is not None
    assert step.note.decision == "halt"
    assert "2/4 of wave 0 rejected or rolled back (50% > 10%)" in step.note.message
    assert step.note.figures["failed"] == 2
    # The previous config goes, as v9, to those that took v8 or may still: not to those that refused it.
    assert revert_targets(p, step.state, reports) == (a, d)
    out = to_publish(p, step.state, reports)
    assert out == (9, (a, d), True)
    done = published(p, step.state, out, clock())
    assert done.state.phase == Phase.REVERTED
    # Nothing beyond the canary was ever sent.
    assert p.ends[0] == 4


def test_one_failure_in_a_large_wave_stays_under_the_halt_share() -> None:
    p, clock = plan(canary="20", waves=["100%"], halt_at=0.1, success=0.9), Clock()
    state = send(p, State(Phase.SENDING, 0), clock())
    wave = p.wave(0)
    reports = applied(wave[1:]) | {wave[0]: report(wave[0], "rolled_back", 8)}
    step = evaluate(p, state, clock(), reports=reports, links={})
    assert step.state.phase == Phase.SENDING  # 19/20 applied, 1/20 failed = 5 % <= 10 %


def test_offline_hubs_are_counted_and_do_not_block_forever() -> None:
    p, clock = plan(canary="10", waves=["100%"], success=0.8), Clock()
    state = send(p, State(Phase.SENDING, 0), clock())
    wave = p.wave(0)
    links = dict.fromkeys(wave[:3], "offline")
    reports = applied(wave[3:])  # 7/10 applied, 3 offline
    step = evaluate(p, state, clock(), reports=reports, links=links)
    assert step.note is None  # the window is still open

    clock.now += 59.9
    assert evaluate(p, state, clock(), reports=reports, links=links).note is None
    clock.now += 0.1
    step = evaluate(p, state, clock(), reports=reports, links=links)
    assert step.state.phase == Phase.PAUSED
    assert step.note is not None
    assert step.note.decision == "stall"
    assert step.note.figures["offline"] == 3
    assert "7/10 applied (70% < 80%), 3 offline, 0 silent" in step.note.message

    # Resumed: a new window for the same wave; one offline hub came back and applied.
    clock.now += 600
    resumed = evaluate(p, step.state, clock(), reports=reports, links=links, request=Request.RESUME)
    assert resumed.took_request
    assert resumed.state == State(Phase.GATING, 0, clock.now)
    reports |= applied(wave[:1])
    links.pop(wave[0])
    step = evaluate(p, resumed.state, clock(), reports=reports, links=links)
    assert step.state.phase == Phase.SENDING  # 8/10 = 80 %


def test_pause_holds_the_next_wave_and_resume_goes_on() -> None:
    p, clock = plan(), Clock()
    state = send(p, State(Phase.SENDING, 0), clock())
    step = evaluate(p, state, clock(), reports={}, links={}, request=Request.PAUSE)
    assert step.took_request
    assert step.state.phase == Phase.PAUSED
    # Paused: the canary's success does not open the next wave.
    reports = applied(p.wave(0))
    clock.now += 1000
    still = evaluate(p, step.state, clock(), reports=reports, links={})
    assert still == Step(step.state, None)
    assert to_publish(p, still.state, reports) is None
    resumed = evaluate(p, still.state, clock(), reports=reports, links={}, request=Request.RESUME)
    step = evaluate(p, resumed.state, clock(), reports=reports, links={})
    assert step.state == State(Phase.SENDING, 1)
    # A pause asked while a wave is being sent waits until it is out.
    waiting = evaluate(p, step.state, clock(), reports=reports, links={}, request=Request.PAUSE)
    assert waiting == Step(step.state, None)


def test_abort_reverts_every_hub_reached() -> None:
    p, clock = plan(), Clock()
    state = send(p, State(Phase.SENDING, 0), clock())
    reports = applied(p.wave(0))
    state = evaluate(p, state, clock(), reports=reports, links={}).state
    state = send(p, state, clock())  # wave 1 out, nobody answered yet
    step = evaluate(p, state, clock(), reports=reports, links={}, request=Request.ABORT)
    assert step.took_request
    assert step.state.phase == Phase.REVERTING
    assert to_publish(p, step.state, reports) == (9, p.reached(1), True)


def test_a_manager_restarted_mid_wave_goes_on_where_it_was(tmp_path: Path) -> None:
    path = tmp_path / "manager" / "rollouts.db"
    p, clock = plan(), Clock()
    terms = rollout_state.Terms("group:all", "[store]\n", "toml", "", "toml", 1, 2)
    db = rollout_state.open_state(path)
    rid = rollout_state.create(
        db,
        terms=terms,
        plan=p,
        settings={"broker": "mqtt://x"},
        now=clock(),
        note=Note(0, "plan", "planned", {}),
    )
    assert path.stat().st_mode & 0o777 == 0o600
    state = send(p, State(Phase.SENDING, 0), clock())
    rollout_state.save(db, rid, state, clock(), Note(0, "sent", "canary sent", {}), took=Request.NONE)
    step = evaluate(p, state, clock(), reports=applied(p.wave(0)), links={})
    rollout_state.save(db, rid, step.state, clock(), step.note, took=Request.NONE)
    state = send(p, step.state, clock.now + 1)
    rollout_state.save(db, rid, state, clock(), None, took=Request.NONE)
    db.close()  # the manager dies here, wave 1 out

    clock.now += 30
    db = rollout_state.open_state(path)
    back = rollout_state.active(db)
    assert back is not None
    assert back.id == rid
    assert back.plan == p
    assert back.terms == terms
    assert back.state == State(Phase.GATING, 1, 1_000_001.0)  # the wave's window is not reset
    assert [d.decision for d in rollout_state.decisions(db, rid)] == ["plan", "sent", "proceed"]
    # Its window runs from when the wave went out, not from the restart.
    clock.now += 31
    step = evaluate(p, back.state, clock(), reports=applied(p.wave(0)), links={})
    assert step.state.phase == Phase.PAUSED
    # And a second rollout waits until this one is over.
    with pytest.raises(AgentError, match="is not finished"):
        rollout_state.create(db, terms=terms, plan=p, settings={}, now=clock(), note=Note(0, "plan", "x", {}))


def test_a_document_signed_again_after_a_restart_is_the_same_bytes(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    p = plan()
    terms = rollout_state.Terms("group:all", "[store]\n", "toml", "", "toml", 1_000, 2_000)
    stored = rollout_state.Rollout(1, 0.0, terms, p, {}, State(Phase.SENDING, 0), Request.NONE)
    first = document_for(stored, key, "hub-001", revert=False)
    assert document_for(stored, key, "hub-001", revert=False) == first  # hubs skip it by its digest
    assert decode(first).envelope.target == "hub:hub-001"
    assert decode(document_for(stored, key, "hub-001", revert=True)).envelope.version == 9


def test_rollout_commands_name_what_is_missing(tmp_path: Path) -> None:
    config = tmp_path / "new.toml"
    config.write_text("[store]\n")
    (tmp_path / "keys").mkdir()
    assert hearth("fleet", "keygen", "--out", str(tmp_path / "keys")).returncode == 0
    state = str(tmp_path / "rollouts.db")
    started = hearth(
        "fleet", "rollout", "start", str(config), "--key", str(tmp_path / "keys" / "fleet.key"),
        "--version", "3", "--target", "group:kitchens", "--broker", "mqtt://127.0.0.1:1", "--state", state,
    )  # fmt: skip
    assert started.returncode == 2
    assert "--revert-to: no earlier rollout to group:kitchens finished here" in started.stderr
    assert "Traceback" not in started.stderr
    for command in ("status", "resume", "pause", "abort"):
        result = hearth("fleet", "rollout", command, "--state", str(tmp_path / "none.db"))
        assert result.returncode == 1, command
        assert "no rollout state file at" in result.stderr
        assert "Traceback" not in result.stderr
    result = hearth("fleet", "rollout", "resume", "--state", state)  # the file is there, no rollout in it
    assert result.returncode == 1
    assert "no rollout in progress" in result.stderr


def test_a_pause_with_no_manager_running_never_cuts_a_wave_short(tmp_path: Path) -> None:
    path = tmp_path / "rollouts.db"
    db = rollout_state.open_state(path)
    terms = rollout_state.Terms("group:all", "[store]\n", "toml", "", "toml", 1, 2)
    rid = rollout_state.create(
        db, terms=terms, plan=plan(), settings={}, now=0.0, note=Note(0, "plan", "x", {})
    )
    # The manager died while the canary was being published: pausing now must not skip its last hubs.
    paused = hearth("fleet", "rollout", "pause", "--state", str(path))
    assert paused.returncode == 0, paused.stderr
    assert "takes effect once the wave being sent is out" in paused.stdout
    stored = rollout_state.load(db, rid)
    assert stored.state.phase == Phase.SENDING
    assert stored.request == Request.PAUSE
    # Once the wave is out, a pause holds it.
    rollout_state.save(db, rid, State(Phase.GATING, 0, 5.0), 5.0, None, took=Request.NONE)
    assert hearth("fleet", "rollout", "pause", "--state", str(path)).returncode == 0
    assert rollout_state.load(db, rid).state.phase == Phase.PAUSED
    again = hearth("fleet", "rollout", "pause", "--state", str(path))
    assert "already paused" in again.stdout
    assert rollout_state.load(db, rid).request == Request.NONE


def test_a_wave_that_passed_is_watched_for_the_bake_time_and_a_late_failure_still_halts(
    tmp_path: Path,
) -> None:
    p, clock = plan(canary="10", waves=["100%"], success=0.8, halt_at=0.1, bake=5.0), Clock()
    state = send(p, State(Phase.SENDING, 0), clock())
    wave = p.wave(0)
    reports = applied(wave[2:])  # 8/10: the success share, two still applying
    clock.now += 1
    step = evaluate(p, state, clock(), reports=reports, links={})
    assert step.note is None
    assert step.state == State(Phase.GATING, 0, state.wave_started, passed_at=clock.now)
    watched = step.state
    assert wake_at(p, watched) == clock.now + 5  # no report needed to decide then
    assert wake_at(p, state) == state.wave_started + 60  # before it passed: the window's end

    # A restart keeps when it passed.
    db = rollout_state.open_state(tmp_path / "rollouts.db")
    terms = rollout_state.Terms("group:all", "", "toml", "", "toml", 1, 2)
    rid = rollout_state.create(db, terms=terms, plan=p, settings={}, now=0.0, note=Note(0, "plan", "x", {}))
    rollout_state.save(db, rid, watched, clock(), None, took=Request.NONE)
    assert rollout_state.load(db, rid).state == watched
    assert rollout_state.load(db, rid).plan.bake == 5.0

    clock.now += 4.9
    assert evaluate(p, watched, clock(), reports=reports, links={}) == Step(watched, None)
    # The two slow hubs roll back within the bake time: 20 % failed > 10 %.
    late = reports | {h: report(h, "rolled_back", 8) for h in wave[:2]}
    halted = evaluate(p, watched, clock(), reports=late, links={})
    assert halted.state.phase == Phase.REVERTING
    # Had they applied, the wave would go on once the bake time is over.
    clock.now += 0.1
    done = evaluate(p, watched, clock(), reports=reports, links={})
    assert done.state == State(Phase.SENDING, 1)
    assert done.note is not None
    assert done.note.figures["passed_s"] == 1.0
    assert "proceed: 8/10 of wave 0 applied (80% >= 80%) after 1.0 s, then watched 5 s" in done.note.message


def test_a_halt_just_over_the_threshold_says_so_in_its_figures() -> None:
    p, clock = plan([f"hub-{n}" for n in range(100)], canary="90", waves=["100%"], halt_at=0.02), Clock()
    state = send(p, State(Phase.SENDING, 0), clock())
    wave = p.wave(0)
    step = evaluate(p, state, clock(), reports={h: report(h, "rejected", 8) for h in wave[:2]}, links={})
    assert step.note is not None
    assert "2/90 of wave 0 rejected or rolled back (2.2% > 2%)" in step.note.message
