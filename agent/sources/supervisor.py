"""Runs one source forever: restarts it with jittered backoff when it fails, and keeps its health."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Literal

from agent.aio import cancel_requested
from agent.backoff import Backoff
from agent.pipeline.sink import Sink
from agent.sources.base import Source

log = logging.getLogger(__name__)

State = Literal["starting", "running", "backoff", "finished"]


class SourceRunner:
    """Supervises ``source``: a crash is counted and logged once, never stops the daemon."""

    def __init__(self, source: Source, sink: Sink, backoff: Backoff | None = None) -> None:
        self.source = source
        self.sink = sink
        self.backoff = backoff or Backoff(base=1.0, cap=60.0)
        self.state: State = "starting"
        self.restarts = 0
        self.last_error: str | None = None
        self.failing = False
        self._accepted_at_failure = 0

    @property
    def name(self) -> str:
        return self.source.name

    async def run(self) -> None:
        """Run the source until cancelled (or until a finite source finishes)."""
        while True:
            self.state = "running"
            try:
                await self.source.run(self.sink)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if cancel_requested():
                    raise asyncio.CancelledError from exc
                self._failed(exc)
            else:
                self.state = "finished"
                log.info("source %s finished", self.name)
                return
            self.state = "backoff"
            await asyncio.sleep(self.backoff.next_delay())
            self.restarts += 1

    def _failed(self, exc: Exception) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        if not self.failing:
            log.warning("source %s failed, restarting with backoff: %s", self.name, self.last_error)
        else:
            log.debug("source %s failed again: %s", self.name, self.last_error)
        self.failing = True
        self._accepted_at_failure = self.sink.accepted

    def check_recovery(self) -> None:
        """Once a failed source delivers readings again, log that once and reset its backoff."""
        if self.failing and self.state == "running" and self.sink.accepted > self._accepted_at_failure:
            self.failing = False
            self.backoff.reset()
            log.info("source %s recovered after %d restarts", self.name, self.restarts)

    def health(self) -> dict[str, Any]:
        """A row for the ``source_health`` table."""
        return {
            "name": self.name,
            "kind": self.source.kind,
            "state": self.state,
            "restarts": self.restarts,
            "accepted": self.sink.accepted,
            "dropped": self.sink.dropped,
            "last_error": self.last_error,
            "stats": dict(self.sink.stats),
        }

    def silent_for(self) -> float:
        """Seconds since this source last produced a reading (inf if never)."""
        if not self.sink.last_put:
            return float("inf")
        return time.monotonic() - self.sink.last_put
