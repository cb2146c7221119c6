"""How a command carries out an owner action: through the running hub, or on the files when none runs.

The running hub is the only process that writes its data files while it runs: a command first asks it
over the control socket. Only when no hub answers does the command take the data folder's lock (which a
starting hub waits for) and open the files itself, with the same action code.
"""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from agent.config import Config
from agent.control import wire
from agent.control.actions import perform
from agent.control.owner import IntentExchanges
from agent.errors import AgentError
from agent.store.ledger import open_ledger
from agent.store.lock import DataLock
from agent.store.readings import ReadingsStore, open_readings
from agent.store.sqlite import refusal

P = ParamSpec("P")
T = TypeVar("T")

# How long a command waits for a hub that is starting (it holds the lock, the socket is not up yet).
START_WAIT = 15.0
# An action may take a while on a busy hub (an erase of a large stream): the reply's time limit.
REPLY_TIMEOUT = 120.0


def call(config: Config, action: str, **params: Any) -> Any:
    """Carry out owner action ``action`` for the hub configured by ``config``; return its result."""
    data_dir = Path(config.hub.data_dir)
    request = wire.Request(action, params)
    deadline = time.monotonic() + START_WAIT
    while True:
        reply = ask_running_hub(data_dir, request)
        if reply is not None:
            return wire.result_of(reply)
        with DataLock(data_dir) as lock:
            if lock.try_acquire():
                return asyncio.run(_local(config, request))
        if time.monotonic() >= deadline:
            raise AgentError(
                f"a hub holds {data_dir} but does not answer on {wire.socket_path(data_dir)}",
                hint="is it still starting? see its log (journalctl -u hearth)",
            )
        time.sleep(0.1)


def ask_running_hub(data_dir: Path, request: wire.Request) -> bytes | None:
    """The running hub's reply line to ``request``, or None when no hub listens."""
    path = wire.socket_path(data_dir)
    if not path.exists():
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock, wire.reachable(path) as address:
        try:
            sock.connect(address)
        except (ConnectionRefusedError, FileNotFoundError):
            return None  # left behind by a hub that died
        sock.settimeout(REPLY_TIMEOUT)
        try:
            sock.sendall(wire.encode(request))
            with sock.makefile("rb") as stream:
                line = stream.readline(wire.MAX_LINE)
        except TimeoutError as exc:
            raise AgentError(f"the hub did not answer within {REPLY_TIMEOUT:.0f} s") from exc
        except OSError as exc:
            raise AgentError(f"lost the hub while it answered: {exc}") from exc
    if not line:
        raise AgentError("the hub closed the control connection without answering (is it stopping?)")
    return line


async def _local(config: Config, request: wire.Request) -> Any:
    with LocalHub(config) as hub:
        try:
            return await perform(hub, request.action, request.params)
        except sqlite3.OperationalError as exc:  # the disk refused a write: say so, not a traceback
            refused = refusal(exc, Path(config.hub.data_dir))
            if refused is None:
                raise
            raise refused from exc


class LocalHub:
    """The ``OwnerHub`` of a command that holds the data folder's lock: the files, opened as needed."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._data_dir = Path(config.hub.data_dir)
        self._ledger: sqlite3.Connection | None = None
        self._store: ReadingsStore | None = None

    @property
    def config(self) -> Config:
        """The config from the file."""
        return self._config

    async def ledger(
        self, fn: Callable[Concatenate[sqlite3.Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``fn`` on the ledger file (opened on first use)."""
        if self._ledger is None:
            self._ledger = open_ledger(self._data_dir)
        return fn(self._ledger, *args, **kwargs)

    async def readings(
        self, fn: Callable[Concatenate[ReadingsStore, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``fn`` on the readings file (opened on first use)."""
        if self._store is None:
            self._store = open_readings(self._data_dir)
        return fn(self._store, *args, **kwargs)

    async def settle(self) -> None:
        """Nothing is recording: nothing to settle."""

    async def adoptions_changed(self) -> None:
        """No BLE source runs: a hub reads the table when it starts."""

    def forgetting(self, streams: Collection[str]) -> None:
        """No hub runs, so nothing learns in memory."""

    def live_sync(self) -> dict[str, Any] | None:
        """No hub runs, so there is no live link."""
        return None

    def live_store(self) -> dict[str, Any] | None:
        """No hub runs, so nothing is recording."""
        return None

    def intents(self) -> IntentExchanges | None:
        """No intent service runs: an intent action connects for the intent itself."""
        return None

    async def model_changed(self, name: str) -> None:
        """No model runs: a hub reads the version each model runs when it starts."""

    def __enter__(self) -> LocalHub:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._ledger is not None:
            self._ledger.close()
        if self._store is not None:
            self._store.close()
