"""Feeds the rule engine from the recorder and carries out the intents it returns.

The recorder calls ``on_readings`` synchronously with every batch; intents go on a bounded queue
and the dispatcher task acts on them at once: log lines, publishes to the local broker, and board
commands (each in its own task, so a slow board never delays the next action).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from agent.aio import cancel_and_wait
from agent.config.schema import BoardAction, LogAction, PublishAction
from agent.readings import Reading
from agent.rules.engine import Intent, RuleEngine
from agent.rules.validate import render
from agent.sources.commander import BoardCommander, command_with_retry

log = logging.getLogger(__name__)

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


class LocalPublisher(Protocol):
    """The local broker as the dispatcher sees it."""

    async def publish(self, topic: str, payload: str, *, qos: int = 0, retain: bool = False) -> bool:
        """Publish now; return False (and count a drop) when the broker is not connected."""


def intent_fields(intent: Intent) -> dict[str, Any]:
    """The values an action's templates may use."""
    trigger = intent.trigger
    return {
        "rule": intent.rule,
        "stream": trigger[0] if trigger else "",
        "value": trigger[2] if trigger else "",
        "label": (trigger[3] or "") if trigger else "",
        "ts": intent.ts,
    }


class RuleDispatcher:
    """Runs ``engine`` on every reading and acts on its intents; ``run()`` is the dispatcher task."""

    def __init__(
        self,
        engine: RuleEngine,
        *,
        publisher: LocalPublisher | None = None,
        commander: BoardCommander | None = None,
        clock: Callable[[], float] = time.time,
        max_queued: int = 1000,
        max_board_tasks: int = 32,
    ) -> None:
        self.engine = engine
        self.publisher = publisher
        self.commander = commander
        self.clock = clock
        self.max_board_tasks = max_board_tasks
        self._queue: deque[Intent] = deque(maxlen=max_queued)
        self._wake = asyncio.Event()
        self._board_tasks: set[asyncio.Task[None]] = set()
        self.fired = 0
        self.done = 0
        self.failed = 0
        self.dropped = 0
        self.on_dispatch: list[Callable[[Intent], None]] = []
        """Called after each action was carried out (tests and benchmarks watch here)."""
        self._wakeup = engine.next_wakeup()

    def on_readings(self, batch: Sequence[Reading]) -> None:
        """Recorder listener: evaluate the batch and queue whatever fires (never blocks)."""
        intents = self.engine.feed_many(batch)
        if intents:
            self._enqueue(intents)
        wakeup = self.engine.next_wakeup()
        if wakeup != self._wakeup:
            self._wakeup = wakeup
            self._wake.set()

    def _enqueue(self, intents: list[Intent]) -> None:
        self.fired += len(intents)
        queue = self._queue
        overflow = len(queue) + len(intents) - (queue.maxlen or 0)
        if overflow > 0:
            self.dropped += overflow
            log.warning("rule actions are backing up: dropped the %d oldest", overflow)
        queue.extend(intents)
        self._wake.set()

    async def run(self) -> None:
        """Act on intents as they come and tick the engine when time alone can make a rule fire."""
        try:
            while True:
                if not self._queue:
                    wakeup = self.engine.next_wakeup()
                    self._wakeup = wakeup
                    delay = None if wakeup is None else max(0.0, wakeup - self.clock())
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(delay):
                            await self._wake.wait()
                    self._wake.clear()
                    wakeup = self.engine.next_wakeup()
                    if wakeup is not None and wakeup <= self.clock():
                        ticked = self.engine.tick(self.clock())
                        if ticked:
                            self._enqueue(ticked)
                while self._queue:
                    await self._act(self._queue.popleft())
        finally:
            await cancel_and_wait(self._board_tasks, None)

    async def _act(self, intent: Intent) -> None:
        action = intent.action
        try:
            if isinstance(action, LogAction):
                log.log(
                    _LEVELS[action.level],
                    "rule %s: %s",
                    intent.rule,
                    render(action.message, intent_fields(intent)),
                )
            elif isinstance(action, PublishAction):
                fields = intent_fields(intent)
                if self.publisher is None or not await self.publisher.publish(
                    render(action.topic, fields),
                    render(action.payload, fields),
                    qos=action.qos,
                    retain=action.retain,
                ):
                    self.failed += 1
                    return
            elif isinstance(action, BoardAction):
                self._start_board_command(intent, action)
                return
        except Exception:
            self.failed += 1
            log.exception("rule %s: action failed", intent.rule)
            return
        self._finished(intent)

    def _finished(self, intent: Intent) -> None:
        self.done += 1
        for hook in self.on_dispatch:
            hook(intent)

    def _start_board_command(self, intent: Intent, action: BoardAction) -> None:
        if self.commander is None:
            self.failed += 1
            log.warning("rule %s: no board link for %s", intent.rule, action.board)
            return
        if len(self._board_tasks) >= self.max_board_tasks:
            self.dropped += 1
            log.warning("rule %s: too many board commands in flight; dropped one", intent.rule)
            return
        task = asyncio.create_task(self._board_command(intent, action), name=f"rule:{intent.rule}:board")
        self._board_tasks.add(task)
        task.add_done_callback(self._board_tasks.discard)

    async def _board_command(self, intent: Intent, action: BoardAction) -> None:
        assert self.commander is not None
        try:
            await command_with_retry(
                self.commander, action.board, action.command, action.arg, attempts=action.attempts
            )
        # A board link may fail in ways of its own; none of them may stop the service.
        except Exception as exc:  # noqa: BLE001
            self.failed += 1
            log.error(
                "rule %s: board %s did not ACK %s after %d attempts: %s",
                intent.rule,
                action.board,
                action.command,
                action.attempts,
                exc,
            )
            return
        self._finished(intent)

    def stats(self) -> dict[str, int]:
        """Counters for status and tests."""
        return {"fired": self.fired, "done": self.done, "failed": self.failed, "dropped": self.dropped}
