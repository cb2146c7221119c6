"""The fleet manager's rollout state: its own SQLite file (0600, synchronous=FULL), one row per rollout.

Each rollout keeps its plan, the signed terms (so a manager that restarts signs byte-identical documents
and hubs recognise what they already handled), where to reach the broker, its phase, the operator's
pending request, and every decision with the figures that made it. A manager that crashes or loses
its network starts again from here.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from agent.errors import AgentError
from agent.fleet.rollout import Note, Phase, Plan, Request, State
from agent.store.sqlite import open_database, transaction

SCHEMA = """
CREATE TABLE rollouts (
    id INTEGER PRIMARY KEY,
    created_at REAL NOT NULL,
    target TEXT NOT NULL,
    config TEXT NOT NULL,
    config_format TEXT NOT NULL,
    previous TEXT NOT NULL,
    previous_format TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    plan TEXT NOT NULL,
    settings TEXT NOT NULL,
    phase TEXT NOT NULL,
    wave INTEGER NOT NULL,
    wave_started REAL,
    reason TEXT NOT NULL DEFAULT '',
    request TEXT NOT NULL DEFAULT '',
    passed_at REAL
);
CREATE TABLE decisions (
    rollout INTEGER NOT NULL REFERENCES rollouts(id),
    at REAL NOT NULL,
    wave INTEGER NOT NULL,
    decision TEXT NOT NULL,
    message TEXT NOT NULL,
    figures TEXT NOT NULL
);
CREATE INDEX decisions_by_rollout ON decisions (rollout, at);
"""


@dataclass(frozen=True)
class Terms:
    """What every document of a rollout is made of: the config, the previous one, and their validity."""

    target: str
    config: str
    config_format: str
    previous: str
    previous_format: str
    issued_at: int
    expires_at: int


@dataclass(frozen=True)
class Rollout:
    """One rollout as stored."""

    id: int
    created_at: float
    terms: Terms
    plan: Plan
    settings: dict[str, str]  # broker URL, TLS files, topic prefix, key path: what resuming needs
    state: State
    request: Request


@dataclass(frozen=True)
class Decision:
    """One logged decision."""

    at: float
    wave: int
    decision: str
    message: str
    figures: dict[str, object]


def open_state(path: Path) -> sqlite3.Connection:
    """Open (creating 0600) the rollout state file at ``path``."""
    return open_database(path, synchronous="FULL", migrations=[SCHEMA], label="rollout state")


def create(
    db: sqlite3.Connection, *, terms: Terms, plan: Plan, settings: dict[str, str], now: float, note: Note
) -> int:
    """Store a new rollout about to send its canary; return its id."""
    with transaction(db, immediate=True):
        busy = active(db)
        if busy is not None:
            raise AgentError(
                f"rollout {busy.id} (v{busy.plan.version} to {busy.terms.target}) is not finished: "
                f"it is {busy.state.phase}",
                hint="resume or abort it first (hearth fleet rollout resume|abort)",
            )
        cursor = db.execute(
            "INSERT INTO rollouts (created_at, target, config, config_format, previous, previous_format, "
            "issued_at, expires_at, plan, settings, phase, wave) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
            (
                now,
                terms.target,
                terms.config,
                terms.config_format,
                terms.previous,
                terms.previous_format,
                terms.issued_at,
                terms.expires_at,
                json.dumps(_plan_json(plan)),
                json.dumps(settings),
                Phase.SENDING.value,
            ),
        )
        rollout = int(cursor.lastrowid or 0)
        _note(db, rollout, now, note)
    return rollout


def save(
    db: sqlite3.Connection, rollout: int, state: State, now: float, note: Note | None, *, took: Request
) -> None:
    """Store ``state`` and its decision; clear the request it took up (unless another came meanwhile)."""
    with transaction(db, immediate=True):
        db.execute(
            "UPDATE rollouts SET phase = ?, wave = ?, wave_started = ?, reason = ?, passed_at = ? "
            "WHERE id = ?",
            (state.phase.value, state.wave, state.wave_started, state.reason, state.passed_at, rollout),
        )
        if took != Request.NONE:
            db.execute("UPDATE rollouts SET request = '' WHERE id = ? AND request = ?", (rollout, took.value))
        if note is not None:
            _note(db, rollout, now, note)


def ask(db: sqlite3.Connection, rollout: int, request: Request) -> None:
    """Leave the operator's ``request`` for the rollout to take up."""
    with transaction(db, immediate=True):
        db.execute("UPDATE rollouts SET request = ? WHERE id = ?", (request.value, rollout))


def load(db: sqlite3.Connection, rollout: int) -> Rollout:
    """The rollout with id ``rollout``."""
    row = _select(db, "WHERE id = ?", (rollout,))
    if row is None:
        raise AgentError(f"no rollout {rollout} in the state file")
    return _rollout(row)


def latest(db: sqlite3.Connection) -> Rollout | None:
    """The newest rollout, finished or not."""
    row = _select(db, "ORDER BY id DESC LIMIT 1", ())
    return _rollout(row) if row else None


def active(db: sqlite3.Connection) -> Rollout | None:
    """The rollout not yet done or reverted, if any."""
    final = tuple(p.value for p in (Phase.DONE, Phase.REVERTED))
    row = _select(db, "WHERE phase NOT IN (?, ?) ORDER BY id DESC LIMIT 1", final)
    return _rollout(row) if row else None


def last_done(db: sqlite3.Connection, target: str) -> Rollout | None:
    """The newest rollout to ``target`` that went all the way (its config is what the target runs)."""
    row = _select(db, "WHERE target = ? AND phase = ? ORDER BY id DESC LIMIT 1", (target, Phase.DONE.value))
    return _rollout(row) if row else None


def highest_version(db: sqlite3.Connection) -> int:
    """The highest version any rollout used, reverts included (0 if none)."""
    versions = [json.loads(plan)["revert_version"] for (plan,) in db.execute("SELECT plan FROM rollouts")]
    return int(max(versions, default=0))


def decisions(db: sqlite3.Connection, rollout: int) -> list[Decision]:
    """Every decision of a rollout, oldest first."""
    rows = db.execute(
        "SELECT at, wave, decision, message, figures FROM decisions WHERE rollout = ? ORDER BY rowid",
        (rollout,),
    ).fetchall()
    return [Decision(float(r[0]), int(r[1]), str(r[2]), str(r[3]), json.loads(r[4])) for r in rows]


_COLUMNS = (
    "id, created_at, target, config, config_format, previous, previous_format, issued_at, expires_at, "
    "plan, settings, phase, wave, wave_started, reason, request, passed_at"
)


def _select(db: sqlite3.Connection, clause: str, params: tuple[object, ...]) -> tuple[object, ...] | None:
    row: tuple[object, ...] | None = db.execute(
        f"SELECT {_COLUMNS} FROM rollouts {clause}",  # noqa: S608 - fixed clauses, values as parameters
        params,
    ).fetchone()
    return row


def _note(db: sqlite3.Connection, rollout: int, now: float, note: Note) -> None:
    db.execute(
        "INSERT INTO decisions (rollout, at, wave, decision, message, figures) VALUES (?, ?, ?, ?, ?, ?)",
        (rollout, now, note.wave, note.decision, note.message, json.dumps(note.figures)),
    )


def _plan_json(plan: Plan) -> dict[str, object]:
    return {
        "version": plan.version,
        "revert_version": plan.revert_version,
        "order": list(plan.order),
        "ends": list(plan.ends),
        "success": plan.success,
        "halt_at": plan.halt_at,
        "window": plan.window,
        "seed": plan.seed,
        "bake": plan.bake,
    }


def _rollout(row: tuple[object, ...]) -> Rollout:
    (rid, created, target, config, fmt, previous, previous_fmt, issued, expires, plan, settings) = row[:11]
    phase, wave, started, reason, request, passed = row[11:]
    p = json.loads(str(plan))
    return Rollout(
        id=int(str(rid)),
        created_at=float(str(created)),
        terms=Terms(
            str(target),
            str(config),
            str(fmt),
            str(previous),
            str(previous_fmt),
            int(str(issued)),
            int(str(expires)),
        ),
        plan=Plan(
            version=int(p["version"]),
            revert_version=int(p["revert_version"]),
            order=tuple(p["order"]),
            ends=tuple(p["ends"]),
            success=float(p["success"]),
            halt_at=float(p["halt_at"]),
            window=float(p["window"]),
            seed=int(p["seed"]),
            bake=float(p.get("bake", 0.0)),
        ),
        settings=json.loads(str(settings)),
        state=State(
            Phase(str(phase)),
            int(str(wave)),
            None if started is None else float(str(started)),
            str(reason),
            None if passed is None else float(str(passed)),
        ),
        request=Request(str(request)),
    )
