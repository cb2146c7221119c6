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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agent.config import Config, load_config
from agent.errors import ConfigError, StoreError
from agent.fleet import files, history
from agent.store.ledger import open_ledger
from agent.store.lock import DataLock

log = logging.getLogger(__name__)

# How long a start waits for a command that holds the data folder.
LOCK_WAIT = 30.0
# Starts allowed with an unconfirmed pushed config before it is rolled back without another try.
MAX_UNCONFIRMED_STARTS = 3


def count_start(config: Config, path: Path) -> bool:
    """Count this start against an unconfirmed push; True if it was rolled back instead (load again)."""
    if config.fleet is None:
        return False
    with _ledger(Path(config.hub.data_dir)) as ledger:
        pending = _pending_on_disk(ledger, path)
        if pending is None:
            return False
        starts = history.count_start(ledger, pending.version)
        if starts <= MAX_UNCONFIRMED_STARTS:
            return False
        _roll_back(ledger, path, pending, f"not confirmed after {MAX_UNCONFIRMED_STARTS} starts (crash loop)")
        return True


def roll_back_failed_start(path: Path, error: BaseException) -> bool:
    """After the config at ``path`` failed to load or start: roll back an unconfirmed push; True if done."""
    previous = files.sibling(path, ".prev")
    try:
        # A push cannot change hub.data_dir, so the previous file names the same ledger.
        config = load_config(previous)
        with _ledger(Path(config.hub.data_dir)) as ledger:
            pending = _pending_on_disk(ledger, path)
            if pending is None:
                return False
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            _roll_back(ledger, path, pending, f"does not start: {reason}")
            return True
    except (ConfigError, StoreError, OSError):
        return False


@contextmanager
def _ledger(data_dir: Path) -> Iterator[sqlite3.Connection]:
    """The ledger, under the data folder's lock (the agent is not running yet, a command may be)."""
    with DataLock(data_dir) as lock:
        lock.acquire(LOCK_WAIT, who="a hearth command")
        ledger = open_ledger(data_dir)
        try:
            yield ledger
        finally:
            ledger.close()


def _pending_on_disk(ledger: sqlite3.Connection, path: Path) -> history.Pending | None:
    pending = history.interrupted(ledger)
    return pending if pending is not None and files.read(path) == pending.text else None


def _roll_back(ledger: sqlite3.Connection, path: Path, pending: history.Pending, reason: str) -> None:
    log.error("fleet: rolling back config v%d: %s", pending.version, reason)
    files.restore_previous(path)
    history.finish(ledger, pending.version, pending.sha256, "rolled_back", reason)
