"""examples/vendor.py run as a vendor runs it, next to a market broker, its JSON lines read as they come."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "vendor.py"


class Vendor:
    """examples/vendor.py as a vendor runs it, its JSON lines read as they come."""

    def __init__(self, port: int, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(SCRIPT), "--host", "127.0.0.1", "--port", str(port), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))

    def next(self, event: str) -> dict[str, Any]:
        while True:
            try:
                got = self.lines.get(timeout=15)
            except queue.Empty:
                raise AssertionError(f"the vendor printed no {event!r} event") from None
            if got["event"] == event:
                return got

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(10)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
