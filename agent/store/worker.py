"""The ledger's writer thread in a running hub: every change goes through one connection on one thread."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class LedgerWorker:
    """The hub's ledger connection, used from one thread only (owner actions, summariser, publisher)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hearth-ledger")
        path = conn.execute("PRAGMA database_list").fetchone()[2]
        # A second, read-only connection whose data_version moves whenever anyone else commits.
        self._watch = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        self._closed = False

    def version(self) -> int:
        """Changes whenever another connection (the CLI, this worker) committed to the ledger."""
        return int(self._watch.execute("PRAGMA data_version").fetchone()[0])

    async def run(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        """Run ``fn(conn, *args, **kwargs)`` on the ledger thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: fn(self.conn, *args, **kwargs))

    def close(self) -> None:
        """Finish queued work and close the connection; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._pool.shutdown(wait=True)
        self.conn.close()
        self._watch.close()
