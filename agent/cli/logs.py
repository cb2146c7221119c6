"""Log output, configured once: readable lines on a terminal, JSON lines under systemd."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from datetime import datetime
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from agent.config import HubClock


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for journald and log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(
    level: str = "info", fmt: Literal["auto", "console", "json"] = "auto", clock: HubClock | None = None
) -> None:
    """Send the agent's logs to stderr at ``level``; ``auto`` picks JSON when not on a terminal. Console
    lines carry ``clock``'s time (the hub's), or the process's until the config is read."""
    if fmt == "auto":
        under_systemd = "JOURNAL_STREAM" in os.environ or "INVOCATION_ID" in os.environ
        fmt = "json" if under_systemd or not sys.stderr.isatty() else "console"
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        formatter = logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        if clock is None:
            formatter.converter = time.localtime
        else:
            zone = clock.zone

            def hub_time(ts: float | None) -> time.struct_time:
                return datetime.fromtimestamp(time.time() if ts is None else ts, zone).timetuple()

            formatter.converter = hub_time
        handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
