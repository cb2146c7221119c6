"""Around each start of the agent: a pushed config that cannot start, or keeps crashing, is rolled back.

A push that needs a restart leaves its version ``applying`` in the ledger with the new file installed;
the fresh agent's fleet service confirms it within the confirmation window. Two things can stop it
from getting that far, and both are handled here, before and after building the agent:

- the new config does not load or start (a model that does not fit, a port taken...):
  ``roll_back_failed_start`` puts the previous file back at once;
- the agent keeps dying before it confirms (a crash loop, systemd restarting it each time):
  ``count_start`` counts the starts, and past ``MAX_UNCONFIRMED_STARTS`` rolls back before starting.

Both only ever touch an apply whose file is the one on disk: a config the owner edited by hand is
never replaced behind their back.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from agent.config import Config, load_config
from agent.errors import ConfigError, StoreError
from agent.fleet import files, history
from agent.store.ledger import open_ledger

log = logging.getLogger(__name__)

# Starts allowed with an unconfirmed pushed config before it is rolled back without another try.
MAX_UNCONFIRMED_STARTS = 3


def count_start(config: Config, path: Path) -> bool:
    """Count this start against an unconfirmed push; True if it was rolled back instead (load again)."""
    if config.fleet is None:
        return False
    ledger = open_ledger(Path(config.hub.data_dir))
    try:
        pending = _pending_on_disk(ledger, path)
        if pending is None:
            return False
        starts = history.count_start(ledger, pending.version)
        if starts <= MAX_UNCONFIRMED_STARTS:
            return False
        _roll_back(ledger, path, pending, f"not confirmed after {MAX_UNCONFIRMED_STARTS} starts (crash loop)")
        return True
    finally:
        ledger.close()


def roll_back_failed_start(path: Path, error: BaseException) -> bool:
    """After the config at ``path`` failed to load or start: roll back an unconfirmed push; True if done."""
    previous = files.sibling(path, ".prev")
    try:
        # A push cannot change hub.data_dir, so the previous file names the same ledger.
        config = load_config(previous)
        ledger = open_ledger(Path(config.hub.data_dir))
    except (ConfigError, StoreError, OSError):
        return False
    try:
        pending = _pending_on_disk(ledger, path)
        if pending is None:
            return False
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        _roll_back(ledger, path, pending, f"does not start: {reason}")
        return True
    finally:
        ledger.close()


def _pending_on_disk(ledger: sqlite3.Connection, path: Path) -> history.Pending | None:
    pending = history.interrupted(ledger)
    return pending if pending is not None and files.read(path) == pending.text else None


def _roll_back(ledger: sqlite3.Connection, path: Path, pending: history.Pending, reason: str) -> None:
    log.error("fleet: rolling back config v%d: %s", pending.version, reason)
    files.restore_previous(path)
    history.finish(ledger, pending.version, pending.sha256, "rolled_back", reason)
