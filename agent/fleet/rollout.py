"""Staged rollouts, sans I/O: which hubs get a document when, and when to go on, stop or revert.

A rollout sends one config to a target's hubs in waves: a canary (N hubs or a share, drawn at random
from the target with a seed, so the same seed draws the same hubs), then growing batches. Each wave is
gated on the hubs' own reports::

    sending(k) ──> gating(k) ──┬── ≥ success share applied, then bake ──> sending(k+1) … ──> done
                               ├── > halt share rejected/rolled back ──┐
                               ├── abort ──────────────────────────────┴─> reverting ──> reverted
                               └── window over, short of success; pause ──> paused ── resume ──> gating(k)

Once a wave reaches its success share it is watched for ``bake`` seconds more (a hub that fails late
still counts) before the next goes out. Reverting pushes the previous config, as a new and higher
version, to every hub the rollout reached that did not already refuse or roll back the new one (a hub
offline during its wave is reached too: the new document waits for it, retained, and the revert
replaces it). Every change of phase comes with
a ``Note`` carrying the figures that made it. Nothing here does I/O or reads a clock: the caller passes
``now`` (wall-clock seconds, since the state outlives the process) and the hubs' latest reports.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import NamedTuple

from agent.errors import ConfigError
from agent.fleet.report import Status

FAILED = ("rejected", "rolled_back")


class Phase(StrEnum):
    """Where a rollout is; ``done`` and ``reverted`` are final."""

    SENDING = "sending"  # the current wave's documents are to be published (again, after a crash)
    GATING = "gating"  # the current wave is out; waiting for its hubs' reports
    PAUSED = "paused"  # waits for the operator: ``resume`` gates the wave again, ``abort`` reverts
    REVERTING = "reverting"  # the previous config is to be published to the hubs reached
    DONE = "done"
    REVERTED = "reverted"


FINAL_PHASES = (Phase.DONE, Phase.REVERTED)


class Request(StrEnum):
    """What the operator asked of a running rollout (kept until the rollout takes it up)."""

    NONE = ""
    PAUSE = "pause"
    RESUME = "resume"
    ABORT = "abort"


@dataclass(frozen=True)
class Plan:
    """The fixed part of a rollout: the hubs in the order they get it, and the gates."""

    version: int
    revert_version: int
    order: tuple[str, ...]  # every target hub, canary first
    ends: tuple[int, ...]  # for each wave, how many hubs of ``order`` have it once the wave is out
    success: float  # share of a wave that must report ``applied`` to go on (0..1)
    halt_at: float  # share of a wave that rejected or rolled back above which the rollout reverts
    window: float  # seconds a wave has to reach ``success``
    seed: int
    bake: float = 0.0  # seconds a wave that reached ``success`` is watched before the next goes out

    def wave(self, k: int) -> tuple[str, ...]:
        """The hubs of wave ``k`` (0: the canary)."""
        return self.order[self.ends[k - 1] if k else 0 : self.ends[k]]

    def reached(self, k: int) -> tuple[str, ...]:
        """The hubs of waves 0 to ``k``."""
        return self.order[: self.ends[k]]


def share(text: str, option: str) -> float:
    """``"90%"`` (or ``"0.9"``) as 0.9; a ConfigError naming ``option`` if it is not a share."""
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise ConfigError(f"expected a share such as 90%, got {text!r}", key_path=option) from None
    if not 0 <= value <= 1:
        raise ConfigError(f"expected a share between 0% and 100%, got {text!r}", key_path=option)
    return value


def amount(text: str, total: int, option: str) -> int:
    """``"5"`` hubs, or ``"5%"`` of ``total`` (rounded up): how many hubs, at least 1, at most ``total``."""
    if text.endswith("%"):
        return max(1, min(total, math.ceil(share(text, option) * total)))
    try:
        count = int(text)
    except ValueError:
        raise ConfigError(
            f"expected a number of hubs or a share such as 5%, got {text!r}", key_path=option
        ) from None
    if count < 1:
        raise ConfigError(f"expected at least 1 hub, got {text!r}", key_path=option)
    return min(total, count)


def make_plan(
    hubs: Sequence[str],
    *,
    version: int,
    revert_version: int,
    canary: str,
    waves: Sequence[str],
    seed: int,
    success: float,
    halt_at: float,
    window: float,
    bake: float = 0.0,
) -> Plan:
    """Draw the order (canary first) with ``seed``; the waves end at the given shares, 100% last."""
    if not hubs:
        raise ConfigError("no hubs in the target", key_path="--target", hint="have the hubs reported yet?")
    order = sorted(set(hubs))
    random.Random(seed).shuffle(order)
    total = len(order)
    ends = [amount(canary, total, "--canary")]
    for text in waves:
        end = math.ceil(share(text, "--waves") * total)
        if end > ends[-1]:
            ends.append(end)
    if ends[-1] < total:
        ends.append(total)
    return Plan(version, revert_version, tuple(order), tuple(ends), success, halt_at, window, seed, bake)


@dataclass(frozen=True)
class State:
    """The changing part of a rollout."""

    phase: Phase
    wave: int
    wave_started: float | None = None  # when the current wave's documents were out (wall clock)
    reason: str = ""
    passed_at: float | None = None  # when the current wave first reached the success share


class Tally(NamedTuple):
    """What a wave's hubs reported about the rollout's version."""

    size: int
    applied: int
    failed: int  # rejected or rolled back
    offline: int  # said nothing yet, and the broker says its link is down
    waiting: int  # said nothing yet (applying, or not yet received it)

    def figures(self) -> dict[str, int]:
        return self._asdict()


def outcome(report: Status | None, version: int) -> str:
    """What a hub's latest report says of ``version``: ``applied``, ``failed`` or ``waiting``."""
    if report is None:
        return "waiting"
    if report.running_version >= version or (report.version == version and report.state == "applied"):
        return "applied"
    if report.version == version and report.state in FAILED:
        return "failed"
    return "waiting"


def tally(
    hubs: Sequence[str], version: int, reports: Mapping[str, Status], links: Mapping[str, str]
) -> Tally:
    """Count ``hubs`` by what they reported of ``version``."""
    applied = failed = offline = 0
    for hub in hubs:
        said = outcome(reports.get(hub), version)
        if said == "applied":
            applied += 1
        elif said == "failed":
            failed += 1
        elif links.get(hub) == "offline":
            offline += 1
    return Tally(len(hubs), applied, failed, offline, len(hubs) - applied - failed - offline)


class Note(NamedTuple):
    """One decision, with the figures that made it."""

    wave: int
    decision: str
    message: str
    figures: dict[str, object]


class Step(NamedTuple):
    """What ``evaluate`` decided: the next state, its note (None: no change), whether it took the request."""

    state: State
    note: Note | None
    took_request: bool = False


class Publish(NamedTuple):
    """Documents of ``version`` to publish, one per hub."""

    version: int
    hubs: tuple[str, ...]
    revert: bool


def _pct(part: int, whole: int) -> str:
    """``part`` of ``whole`` in percent, to a tenth where it is not whole (2/90 is 2.2%, not 2%)."""
    if not whole:
        return "-"
    share = 100 * part / whole
    return f"{share:.0f}%" if share == round(share) else f"{share:.1f}%"


def evaluate(
    plan: Plan,
    state: State,
    now: float,
    *,
    reports: Mapping[str, Status],
    links: Mapping[str, str],
    request: Request = Request.NONE,
) -> Step:
    """Decide on the current wave from the hubs' latest reports (and the operator's request)."""
    if state.phase in FINAL_PHASES:
        return Step(state, None, took_request=request != Request.NONE)
    if request != Request.NONE:
        step = _on_request(plan, state, now, reports=reports, links=links, request=request)
        if step is not None:
            return step
    if state.phase != Phase.GATING:
        return Step(state, None)
    return _gate(plan, state, now, tally(plan.wave(state.wave), plan.version, reports, links))


def _figures(plan: Plan, k: int, counted: Tally) -> dict[str, object]:
    return {
        "wave_hubs": len(plan.wave(k)),
        "reached": plan.ends[k],
        "fleet": len(plan.order),
        **counted.figures(),
    }


def _on_request(
    plan: Plan,
    state: State,
    now: float,
    *,
    reports: Mapping[str, Status],
    links: Mapping[str, str],
    request: Request,
) -> Step | None:
    """The step an operator's request makes; None where it changes nothing (the rollout goes on)."""
    k = state.wave
    if request == Request.ABORT and state.phase != Phase.REVERTING:
        figures = _figures(plan, k, tally(plan.reached(k), plan.version, reports, links))
        message = f"aborted by the operator in wave {k}; reverting the hubs reached"
        return Step(
            State(Phase.REVERTING, k, state.wave_started, "aborted"), Note(k, "abort", message, figures), True
        )
    if request == Request.PAUSE and state.phase == Phase.GATING:
        figures = _figures(plan, k, tally(plan.wave(k), plan.version, reports, links))
        note = Note(k, "pause", f"paused by the operator in wave {k}", figures)
        return Step(State(Phase.PAUSED, k, state.wave_started, "paused by the operator"), note, True)
    if request == Request.RESUME and state.phase == Phase.PAUSED:
        figures = _figures(plan, k, tally(plan.wave(k), plan.version, reports, links))
        message = f"resumed by the operator: wave {k} gets a new {plan.window:g} s window"
        return Step(State(Phase.GATING, k, now), Note(k, "resume", message, figures), True)
    if request == Request.PAUSE and state.phase != Phase.PAUSED:
        return None  # taken up once the wave being sent is out
    # A pause of what is paused, a resume of what runs: nothing to do, the request is done with.
    step = evaluate(plan, state, now, reports=reports, links=links)
    return step._replace(took_request=True)


def _gate(plan: Plan, state: State, now: float, counted: Tally) -> Step:
    """Go on, halt, stall or keep waiting, from the wave's tally."""
    k = state.wave
    figures = _figures(plan, k, counted)
    started = state.wave_started if state.wave_started is not None else now
    elapsed = max(0.0, now - started)
    figures["elapsed_s"] = round(elapsed, 3)
    if counted.failed / counted.size > plan.halt_at:
        message = (
            f"halt: {counted.failed}/{counted.size} of wave {k} rejected or rolled back "
            f"({_pct(counted.failed, counted.size)} > {plan.halt_at:.0%}); reverting"
        )
        return Step(State(Phase.REVERTING, k, state.wave_started, message), Note(k, "halt", message, figures))
    if counted.applied / counted.size >= plan.success:
        passed = state.passed_at if state.passed_at is not None else now
        if now - passed < plan.bake:  # healthy so far: watch it a little longer
            return Step(state if state.passed_at is not None else replace(state, passed_at=now), None)
        baked = f", then watched {plan.bake:g} s" if plan.bake else ""
        share = f"{_pct(counted.applied, counted.size)} >= {plan.success:.0%}"
        applied = f"{counted.applied}/{counted.size} of wave {k} applied ({share})"
        verdict = f"{applied} after {passed - started:.1f} s{baked}"
        figures["passed_s"] = round(passed - started, 3)
        if k + 1 == len(plan.ends):
            return Step(
                State(Phase.DONE, k, state.wave_started), Note(k, "done", f"done: {verdict}", figures)
            )
        message = f"proceed: {verdict}; wave {k + 1} goes to {len(plan.wave(k + 1))} hubs"
        return Step(State(Phase.SENDING, k + 1), Note(k, "proceed", message, figures))
    if elapsed >= plan.window:
        message = (
            f"wave {k} window of {plan.window:g} s over: {counted.applied}/{counted.size} applied "
            f"({_pct(counted.applied, counted.size)} < {plan.success:.0%}), {counted.offline} offline, "
            f"{counted.waiting} silent; paused"
        )
        return Step(State(Phase.PAUSED, k, state.wave_started, message), Note(k, "stall", message, figures))
    return Step(state, None)


def wake_at(plan: Plan, state: State) -> float | None:
    """When ``evaluate`` may decide differently with no new report: the bake time's or the window's end."""
    if state.phase != Phase.GATING or state.wave_started is None:
        return None
    if state.passed_at is not None:
        return state.passed_at + plan.bake
    return state.wave_started + plan.window


def revert_targets(plan: Plan, state: State, reports: Mapping[str, Status]) -> tuple[str, ...]:
    """The hubs to put back: every hub reached that did not itself refuse or roll back the new version."""
    return tuple(h for h in plan.reached(state.wave) if outcome(reports.get(h), plan.version) != "failed")


def to_publish(plan: Plan, state: State, reports: Mapping[str, Status]) -> Publish | None:
    """The documents the current phase sends, if any."""
    if state.phase == Phase.SENDING:
        return Publish(plan.version, plan.wave(state.wave), revert=False)
    if state.phase == Phase.REVERTING:
        return Publish(plan.revert_version, revert_targets(plan, state, reports), revert=True)
    return None


def published(plan: Plan, state: State, sent: Publish, now: float) -> Step:
    """The state once ``sent`` is out: the wave is gated from ``now``, or the revert is done."""
    if sent.revert:
        message = f"reverted: the previous config went out as v{plan.revert_version} to {len(sent.hubs)} hubs"
        figures: dict[str, object] = {"hubs": len(sent.hubs), "version": plan.revert_version}
        return Step(replace(state, phase=Phase.REVERTED), Note(state.wave, "reverted", message, figures))
    name = "canary" if state.wave == 0 else f"wave {state.wave}"
    reached = f"{plan.ends[state.wave]}/{len(plan.order)} reached"
    message = f"{name}: v{plan.version} sent to {len(sent.hubs)} hubs ({reached})"
    figures = {"hubs": len(sent.hubs), "reached": plan.ends[state.wave], "fleet": len(plan.order)}
    return Step(State(Phase.GATING, state.wave, now), Note(state.wave, "sent", message, figures))
