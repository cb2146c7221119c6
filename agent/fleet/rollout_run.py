"""A rollout against the broker: plan it from the hubs' reports, publish each wave, act on the decisions.

The decisions are ``agent.fleet.rollout``'s; this module moves documents and reports between them and
the broker, and keeps every step in the state file before acting on it. Documents are signed from the
stored terms, and Ed25519 signatures are deterministic, so a manager that publishes a wave again after
a crash sends the very bytes the hubs already handled (they skip them by digest).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import aiomqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.backoff import Backoff
from agent.config.schema import BrokerConfig
from agent.connection import port_of
from agent.errors import AgentError, ConfigError
from agent.fleet import rollout_state
from agent.fleet.document import Envelope, encode, key_id, sign
from agent.fleet.manager import FleetView, envelope_for, follow_fleet
from agent.fleet.mqtt import client, document_topic
from agent.fleet.rollout import (
    FINAL_PHASES,
    Note,
    Phase,
    Publish,
    Request,
    evaluate,
    make_plan,
    published,
    to_publish,
    wake_at,
)
from agent.fleet.rollout_state import Rollout, Terms

log = logging.getLogger(__name__)

PUBLISH_BATCH = 200  # QoS 1 publishes in flight at once


def members(view: FleetView, target: str) -> list[str]:
    """The hubs of ``target`` (``group:NAME`` or ``all``) among those that reported."""
    if target == "all":
        return sorted(view.reports)
    kind, _, name = target.partition(":")
    if kind != "group" or not name:
        raise ConfigError(f"expected group:NAME or all, got {target!r}", key_path="--target")
    return sorted(hub for hub, report in view.reports.items() if name in report.groups)


def document_for(rollout: Rollout, key: Ed25519PrivateKey, hub: str, *, revert: bool) -> bytes:
    """The signed document for ``hub``: the new config, or (``revert``) the previous one as the revert."""
    terms = rollout.terms
    envelope = Envelope(
        version=rollout.plan.revert_version if revert else rollout.plan.version,
        target=f"hub:{hub}",
        issued_at=terms.issued_at,
        expires_at=terms.expires_at,
        key_id=key_id(key.public_key()),
        config_format="json"
        if (terms.previous_format if revert else terms.config_format) == "json"
        else "toml",
        config=terms.previous if revert else terms.config,
    )
    return encode(sign(envelope, key))


def plan(
    db: sqlite3.Connection,
    view: FleetView,
    *,
    terms: Terms,
    key: Ed25519PrivateKey,
    version: int,
    canary: str,
    waves: Sequence[str],
    seed: int,
    success: float,
    halt_at: float,
    window: float,
    bake: float = 0.0,
    base_dir: Path,
    settings: dict[str, str],
    now: float,
) -> int:
    """Check the documents as a hub would, draw the waves, store the rollout; return its id."""
    hubs = members(view, terms.target)
    if not hubs:
        raise ConfigError(
            f"no hub of {terms.target} has reported to the broker",
            key_path="--target",
            hint="hubs report their groups from this release on; is the broker the fleet's?",
        )
    running = max(view.reports[h].running_version for h in hubs)
    used = rollout_state.highest_version(db)
    if version <= max(running, used):
        why = (
            f"a hub of {terms.target} runs v{running}" if running >= used else f"rollouts used up to v{used}"
        )
        raise ConfigError(f"version {version} is not above the fleet's: {why}", key_path="--version")
    for text, fmt in ((terms.config, terms.config_format), (terms.previous, terms.previous_format)):
        envelope_for(
            text,
            fmt,
            key=key,
            version=version,
            target=f"hub:{hubs[0]}",
            issued_at=terms.issued_at,
            expires_at=terms.expires_at,
            base_dir=base_dir,
        )
    drawn = make_plan(
        hubs,
        version=version,
        revert_version=version + 1,
        canary=canary,
        waves=waves,
        seed=seed,
        success=success,
        halt_at=halt_at,
        window=window,
        bake=bake,
    )
    sizes = [len(drawn.wave(k)) for k in range(len(drawn.ends))]
    message = (
        f"planned v{version} to {len(hubs)} hubs of {terms.target} in waves of {sizes} (seed {seed}); "
        f"gates: {success:.0%} applied within {window:g} s and watched {bake:g} s more, halt above "
        f"{halt_at:.0%} failed; revert as v{version + 1}"
    )
    figures: dict[str, object] = {"hubs": len(hubs), "waves": sizes, "seed": seed}
    note = Note(0, "plan", message, figures)
    return rollout_state.create(db, terms=terms, plan=drawn, settings=settings, now=now, note=note)


@contextlib.contextmanager
def driving(state_path: Path) -> Iterator[bool]:
    """Hold the right to drive the rollouts of ``state_path`` for the block; False if another holds it."""
    lock = state_path.with_name(state_path.name + ".lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # also lets the lock go


async def drive(
    db: sqlite3.Connection,
    rollout_id: int,
    *,
    key: Ed25519PrivateKey,
    endpoint: BrokerConfig,
    prefix: str,
    clock: Callable[[], float] = time.time,
    tick: float = 0.5,
    settle: float = 2.0,
    say: Callable[[Note], None] = lambda note: None,
) -> Rollout:
    """Run the rollout until it is done, reverted or paused; return it as stored then.

    A lost broker is waited for (capped, jittered backoff; logged once when lost and once when back): each
    connection starts again from the state file, so nothing is decided twice or skipped.
    """
    backoff = Backoff(base=0.5, cap=30.0)
    where = f"{endpoint.host}:{port_of(endpoint)}"
    connected = lost = False
    while True:
        try:
            async with client(endpoint, identifier=None) as mqtt:
                connected = True
                backoff.reset()
                if lost:
                    log.info("rollout: fleet broker %s reachable again; going on from the state file", where)
                    lost = False
                return await _session(
                    db,
                    rollout_id,
                    mqtt,
                    key=key,
                    prefix=prefix,
                    clock=clock,
                    tick=tick,
                    settle=settle,
                    say=say,
                )
        except aiomqtt.MqttError as exc:
            if not connected:  # a wrong address or login: say so now rather than wait for ever
                raise AgentError(
                    f"cannot reach the fleet broker {where}: {exc}",
                    hint="the rollout is kept as it was: `hearth fleet rollout resume` goes on from there",
                ) from None
            if not lost:
                log.warning("rollout: fleet broker %s lost (%s); waiting for it", where, exc)
                lost = True
        await asyncio.sleep(backoff.next_delay())


async def _session(
    db: sqlite3.Connection,
    rollout_id: int,
    mqtt: aiomqtt.Client,
    *,
    key: Ed25519PrivateKey,
    prefix: str,
    clock: Callable[[], float],
    tick: float,
    settle: float,
    say: Callable[[Note], None],
) -> Rollout:
    """One connection's worth of the rollout: follow the reports, then step until it stops."""
    view = FleetView()
    changed = asyncio.Event()
    await follow_fleet(mqtt, prefix)
    reader = asyncio.create_task(_read(mqtt, view, changed), name="rollout:reports")
    try:
        hubs = set(rollout_state.load(db, rollout_id).plan.order)
        # The retained reports come at once: decide on them, not on an empty view.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(settle):
                while not hubs <= view.reports.keys() and not reader.done():
                    changed.clear()
                    await changed.wait()
        return await _steps(
            db,
            rollout_id,
            mqtt=mqtt,
            reader=reader,
            view=view,
            changed=changed,
            key=key,
            prefix=prefix,
            clock=clock,
            tick=tick,
            say=say,
        )
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
            await reader


async def _read(mqtt: aiomqtt.Client, view: FleetView, changed: asyncio.Event) -> None:
    try:
        async for message in mqtt.messages:
            if view.take(str(message.topic), message.payload):
                changed.set()
    finally:
        changed.set()  # a lost connection wakes the loop, which then finds the reader done


async def _steps(
    db: sqlite3.Connection,
    rollout_id: int,
    *,
    mqtt: aiomqtt.Client,
    reader: asyncio.Task[None],
    view: FleetView,
    changed: asyncio.Event,
    key: Ed25519PrivateKey,
    prefix: str,
    clock: Callable[[], float],
    tick: float,
    say: Callable[[Note], None],
) -> Rollout:
    while True:
        if reader.done():
            reader.result()  # the connection's error
            raise aiomqtt.MqttError("the broker closed the connection")
        current = rollout_state.load(db, rollout_id)
        state = current.state
        sending = to_publish(current.plan, state, view.reports)
        if sending is not None:
            await _publish(mqtt, current, sending, key, prefix)
            step = published(current.plan, state, sending, clock())
            rollout_state.save(db, rollout_id, step.state, clock(), step.note, took=Request.NONE)
            if step.note is not None:
                _tell(step.note, say)
            continue
        waiting = state.phase == Phase.PAUSED and current.request not in {Request.RESUME, Request.ABORT}
        if state.phase in FINAL_PHASES or waiting:
            return current
        changed.clear()
        step = evaluate(
            current.plan, state, clock(), reports=view.reports, links=view.links, request=current.request
        )
        if step.state != state or step.took_request:
            took = current.request if step.took_request else Request.NONE
            rollout_state.save(db, rollout_id, step.state, clock(), step.note, took=took)
            if step.note is not None:
                _tell(step.note, say)
            continue
        # A report, the end of the bake time or window, or time to look for the operator's requests.
        wake = wake_at(current.plan, state)
        wait = tick if wake is None else min(tick, max(0.0, wake - clock()))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await changed.wait()


def _tell(note: Note, say: Callable[[Note], None]) -> None:
    log.info("rollout wave %d: %s %s", note.wave, note.message, note.figures)
    say(note)


async def _publish(
    mqtt: aiomqtt.Client, rollout: Rollout, sending: Publish, key: Ed25519PrivateKey, prefix: str
) -> None:
    """Publish one retained document per hub, ``PUBLISH_BATCH`` in flight at a time."""
    hubs = sending.hubs
    for start in range(0, len(hubs), PUBLISH_BATCH):
        await asyncio.gather(
            *(
                mqtt.publish(
                    document_topic(prefix, f"hub:{hub}"),
                    document_for(rollout, key, hub, revert=sending.revert),
                    qos=1,
                    retain=True,
                )
                for hub in hubs[start : start + PUBLISH_BATCH]
            )
        )
