"""``hearth run`` as its own process with its data folder on the power-cut rig, for the cut scenarios."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agent.consent.ledger import verify_audit
from tests.conftest import REPO
from tests.testbed.wait import wait_until


class RigHub:
    """Starts and stops the hub of a scenario; ``where`` says which seed and cut a failure happened at."""

    config: Path
    data: Path
    log: Path
    hub: subprocess.Popen[bytes] | None

    def where(self) -> str:
        raise NotImplementedError

    def start(self) -> None:
        (self.data / "control.sock").unlink(missing_ok=True)
        with self.log.open("ab") as out:
            self.hub = subprocess.Popen(
                [sys.executable, "-m", "agent", "run", "-c", str(self.config)],
                stdout=out,
                stderr=out,
                cwd=REPO,
            )
        wait_until((self.data / "control.sock").exists, f"the hub to listen {self.where()}")

    def stop(self) -> None:
        assert self.hub is not None
        self.hub.send_signal(signal.SIGTERM)
        assert self.hub.wait(30) == 0, f"the hub did not stop cleanly {self.where()}"
        self.hub = None

    @contextmanager
    def checked_files(self) -> Iterator[tuple[sqlite3.Connection, sqlite3.Connection]]:
        """The readings and ledger files after a cut, each whole by SQLite's check, audit chain unbroken."""
        where = self.where()
        readings = sqlite3.connect(self.data / "readings.db")
        ledger = sqlite3.connect(self.data / "ledger.db")
        try:
            for name, conn in (("readings", readings), ("ledger", ledger)):
                result = conn.execute("PRAGMA integrity_check").fetchone()[0]
                assert result == "ok", f"{name} file corrupt after a cut {where}: {result}"
            assert verify_audit(ledger) == [], f"audit chain broken {where}"
            yield readings, ledger
        finally:
            readings.close()
            ledger.close()
