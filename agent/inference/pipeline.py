"""The live inference layer: recorder feed → windows → model (off the event loop) → context strands.

One ``ModelRunner`` per ``[[models]]`` entry. Its listener sorts the recorder's readings into windows
(cheap, on the event loop); finished windows wait in a small bounded queue for the runner's service,
which invokes the model on the inference thread so a slow model never stalls the recorder. Each result
passes the debouncer: a new label must win ``debounce`` windows in a row, each with at least
``min_confidence``, before ``context.<name>`` switches to it; only switches are recorded. Where the owner's
labels adapted a model (``agent.learning``), the runner classifies with that version's head over the model's
embedding; the shipped classifier runs otherwise. Every context reading names the version that made it;
when the version changes, the next window that agrees with the current label states it again under the
new version (a restatement, not a change: rules and ``events`` grants see no new label).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from agent.inference.runtime import Model, Prediction
from agent.inference.windows import Window, WindowAssembler
from agent.pipeline.sink import Sink
from agent.readings import Reading, StreamInfo

if TYPE_CHECKING:
    from agent.config.schema import ModelConfig
    from agent.hub import Hub
    from agent.learning.head import Head

log = logging.getLogger(__name__)

QUEUE_WINDOWS = 32


class WindowResult(NamedTuple):
    """One classified window: its time span, the prediction and the label in force after debouncing."""

    start_ts: float
    end_ts: float
    prediction: Prediction
    current: str | None


class Debouncer:
    """Switches to a new label only after it wins ``windows`` results in a row with enough confidence."""

    def __init__(self, windows: int, min_confidence: float) -> None:
        self.windows = windows
        self.min_confidence = min_confidence
        self.current: str | None = None
        self._candidate: str | None = None
        self._streak = 0
        self.low_confidence = 0

    def update(self, label: str, confidence: float) -> bool:
        """Take one result; return True if the current label switched to ``label``."""
        if confidence < self.min_confidence:
            self.low_confidence += 1
            return False
        if label == self.current:
            self._candidate, self._streak = None, 0
            return False
        if label == self._candidate:
            self._streak += 1
        else:
            self._candidate, self._streak = label, 1
        if self._streak >= self.windows:
            self.current = label
            self._candidate, self._streak = None, 0
            return True
        return False


class ModelRunner:
    """Runs one configured model over its mapped streams and records ``context.<name>``."""

    def __init__(
        self,
        name: str,
        model: Model,
        streams: Sequence[str],
        *,
        sink: Sink | None,
        executor: ThreadPoolExecutor | None = None,
        debounce: int = 2,
        min_confidence: float = 0.5,
        rate: float | None = None,
    ) -> None:
        self.name = name
        self.model = model
        self.sink = sink
        self.stream = StreamInfo.of("context", name, "", kind="context")
        card = model.card
        self.assembler = WindowAssembler(streams, rate=rate or card.rate_hz, window=card.window, hop=card.hop)
        self.debouncer = Debouncer(debounce, min_confidence)
        self._own_executor = executor is None
        self._executor = executor or ThreadPoolExecutor(1, thread_name_prefix=f"hearth-model-{name}")
        self._queue: deque[Window] = deque()
        # The owner's adapted version (number, head) this runner classifies with; None: as shipped.
        self.adapted: tuple[int, Head] | None = None
        # The version changed since the current label was recorded: record it again under the new one.
        self._restate = False
        self._ready = asyncio.Event()
        self._skipping = False
        # Why the latest classified window failed; None once a window succeeds again.
        self.last_error: str | None = None
        self.on_result: list[Callable[[WindowResult], None]] = []
        self.on_skip: list[Callable[[Window], None]] = []
        self.stats: dict[str, int] = {
            "windows": 0,
            "inferences": 0,
            "skipped_missing": 0,
            "skipped_gaps": 0,
            "skipped_stale": 0,
            "queue_dropped": 0,
            "switches": 0,
            "errors": 0,
        }
        if sink is not None:
            sink.declare(self.stream)

    def on_readings(self, readings: Sequence[Reading]) -> None:
        """Recorder listener: sort readings into windows and queue the finished ones."""
        for window in self.assembler.feed(readings):
            self.stats["windows"] += 1
            if window.skipped is not None:
                reason, _, count = window.skipped.partition(":")
                self.stats[f"skipped_{reason}"] += int(count or 1)
                if not self._skipping:
                    log.warning("model %s: skipping windows, an input is %s", self.name, reason)
                    self._skipping = True
                for hook in self.on_skip:
                    hook(window)
                continue
            if self._skipping:
                log.info("model %s: every input is back, classifying again", self.name)
                self._skipping = False
            self.submit(window)

    def submit(self, window: Window) -> None:
        """Queue a finished window for the model; past ``QUEUE_WINDOWS`` the oldest is dropped and counted."""
        if len(self._queue) >= QUEUE_WINDOWS:
            self._queue.popleft()
            self.stats["queue_dropped"] += 1
        self._queue.append(window)
        self._ready.set()

    async def run(self) -> None:
        """Classify queued windows until cancelled."""
        try:
            while True:
                await self._ready.wait()
                self._ready.clear()
                await self.drain()
        finally:
            if self._own_executor:
                self._executor.shutdown(wait=False, cancel_futures=True)

    async def drain(self) -> None:
        """Classify every window queued so far; a failing invoke is counted and logged, never fatal."""
        loop = asyncio.get_running_loop()
        while self._queue:
            window = self._queue.popleft()
            assert window.data is not None
            try:
                prediction, version = await loop.run_in_executor(
                    self._executor, self.classify_versioned, window.data
                )
            except (RuntimeError, ValueError) as exc:
                self.stats["errors"] += 1
                self.last_error = str(exc) or type(exc).__name__
                if self.stats["errors"] == 1:
                    log.error("model %s: inference failed, skipping the window: %s", self.name, exc)
                continue
            self.last_error = None
            self.handle(window, prediction, version=version)

    @property
    def version(self) -> int:
        """The model version this runner classifies with: 0 as shipped, else the owner's adaptation."""
        return 0 if self.adapted is None else self.adapted[0]

    def use(self, version: int, head: Head | None) -> None:
        """Classify with adapted ``version``'s head from the next window on (``head`` None: as shipped)."""
        before = self.version
        self.adapted = None if head is None else (version, head)
        if self.version != before:
            self._restate = True

    def classify(self, data: np.ndarray) -> Prediction:
        """One window through the model, and through the adapted head where one runs (inference thread)."""
        return self.classify_versioned(data)[0]

    def classify_versioned(self, data: np.ndarray) -> tuple[Prediction, int]:
        """``classify``, and the version that classified (read once: a switch meanwhile cannot mix them)."""
        prediction = self.model.classify(data)
        adapted = self.adapted
        if adapted is None:
            return prediction, 0
        version, head = adapted
        probabilities = head.probabilities(self.model.embedding()[None])[0]
        best = int(probabilities.argmax())
        if not head.answers(best):
            # A class the owner did not teach: the shipped classifier's answer stands, as this version says.
            return prediction, version
        return Prediction(best, head.classes[best], probabilities.item(best)), version

    def handle(self, window: Window, prediction: Prediction, *, version: int | None = None) -> None:
        """Debounce one prediction; record a context reading, naming ``version`` (default: the running
        one), when the label switches, or when a new version first agrees with the current label."""
        self.stats["inferences"] += 1
        version = self.version if version is None else version
        switched = self.debouncer.update(prediction.label, prediction.confidence)
        restated = (
            not switched
            and self._restate
            and version == self.version
            and prediction.label == self.debouncer.current
            and prediction.confidence >= self.debouncer.min_confidence
        )
        if switched:
            self.stats["switches"] += 1
        if switched or restated:
            if version == self.version:
                self._restate = False
            if self.sink is not None:
                self.sink.put_nowait(
                    Reading(
                        self.stream.name,
                        window.end_ts,
                        round(prediction.confidence, 4),
                        prediction.label,
                        version,
                    )
                )
        if self.on_result:
            result = WindowResult(window.start_ts, window.end_ts, prediction, self.debouncer.current)
            for hook in self.on_result:
                hook(result)

    @property
    def low_confidence(self) -> int:
        """Results ignored for confidence below ``min_confidence``."""
        return self.debouncer.low_confidence


class Inference:
    """Every model runner of one agent, sharing one inference thread."""

    def __init__(self) -> None:
        self.runners: dict[str, ModelRunner] = {}
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="hearth-inference")

    async def health(self) -> str | None:
        """None when every model's interpreter is loaded and its latest window did not fail."""
        for name, runner in self.runners.items():
            if runner.model.interpreter is None:
                return f"model {name} has no interpreter loaded"
            if runner.last_error is not None:
                return f"model {name} failed on its latest window: {runner.last_error}"
        return None

    def on_forget(self, streams: Collection[str]) -> None:
        """The owner forgets ``context.<model>`` or ``labels.<model>``: its labels go, so the model
        classifies as shipped now."""
        for name in streams:
            device, _, model = name.partition(".")
            runner = self.runners.get(model) if device in ("context", "labels") else None
            if runner is not None:
                runner.use(0, None)

    async def run(self) -> None:
        """Run every runner until cancelled, then release the inference thread."""
        try:
            async with asyncio.TaskGroup() as group:
                for name, runner in self.runners.items():
                    group.create_task(runner.run(), name=f"model:{name}")
        finally:
            self.executor.shutdown(wait=False, cancel_futures=True)


def setup(hub: Hub) -> Inference | None:
    """Load and check every configured model, and wire its runner to the hub's recorder."""
    from agent.inference.check import load_models
    from agent.learning.service import running_version
    from agent.store.ledger import open_ledger

    configs: list[ModelConfig] = list(hub.config.models)
    if not configs:
        return None
    models = load_models(hub.config)
    inference = Inference()
    # Which adapted version each model runs is read before the hub runs, on a connection of its own: the
    # ledger's writer is for changes.
    with contextlib.closing(open_ledger(hub.data_dir, read_only=True)) as ledger:
        for config, model in zip(configs, models, strict=True):
            sink = hub.recorder.sink(f"context.{config.name}", "context", "drop_oldest", maxsize=256)
            runner = ModelRunner(
                config.name,
                model,
                [config.inputs[i.name] for i in model.card.inputs],
                sink=sink,
                executor=inference.executor,
                debounce=config.debounce,
                min_confidence=config.min_confidence,
                rate=config.input_rate,
            )
            runner.use(*running_version(ledger, config.name, model))
            inference.runners[config.name] = runner
            hub.recorder.listeners.append(runner.on_readings)
    hub.services["inference"] = inference.run
    hub.health_checks["models load"] = inference.health
    log.info("inference: %d models attached", len(configs))
    return inference


def inference_of(hub: Hub) -> Inference | None:
    """The inference feature of ``hub``, if any models are configured."""
    inference = hub.features.get("inference")
    return inference if isinstance(inference, Inference) else None
