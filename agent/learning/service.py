"""The hub path of one adaptation: labels -> windows from the readings file -> embeddings -> a version.

Blocking work (model invokes, the fit) runs in a worker thread; the ledger and readings files are reached
through the ``OwnerHub`` seam like every owner action, so this runs the same inside a running hub and in
a command that holds the data folder.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sqlite3
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from agent.errors import LearningError, ModelError
from agent.inference.evaluate import load_test_split
from agent.inference.runtime import Model
from agent.inference.windows import WindowAssembler
from agent.learning import examples, versions
from agent.learning import labels as label_store
from agent.learning.adapt import Base, Labelled, Outcome, adapt
from agent.learning.head import Head
from agent.store.readings import ReadingsStore

if TYPE_CHECKING:
    from agent.config.schema import ModelConfig
    from agent.control.owner import OwnerHub

log = logging.getLogger(__name__)

_BASES: dict[tuple[Path, str], Base] = {}


def model_entry(hub: OwnerHub, name: str) -> ModelConfig:
    """The ``[[models]]`` entry ``name``; ``LearningError`` naming the configured ones if there is none."""
    for entry in hub.config.models:
        if entry.name == name:
            return entry
    known = ", ".join(m.name for m in hub.config.models) or "none configured"
    raise LearningError(f"no model {name!r} on this hub", hint=f"models in the config's [[models]]: {known}")


def base_of(model: Model) -> Base:
    """The shipped model's training embeddings, and its test split's embeddings and predictions (cached)."""
    key = (model.directory, model.card.sha256)
    if key in _BASES:
        return _BASES[key]
    spec = model.card.embedding
    if spec is None or spec.train is None:
        raise LearningError(
            f"model {model.name!r} cannot be adapted: its card names no embedding",
            hint="retrain it with a train.py that exports the embedding (models/README.md)",
        )
    path = model.directory / spec.train
    try:
        with np.load(path) as data:
            train_x, train_y = data["x"].astype(np.float32), data["y"].astype(np.int64)
    except (OSError, KeyError, ValueError) as exc:
        raise ModelError(f"{path}: cannot read the training embeddings: {exc}") from exc
    test_windows, test_y = load_test_split(model)
    test_x, predicted = embed(model, test_windows)
    base = Base(tuple(model.card.labels), train_x, train_y, test_x, test_y, predicted)
    _BASES[key] = base
    return base


def embed(model: Model, windows: Sequence[np.ndarray] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings (n x size) and the shipped classifier's class index of every raw window."""
    size = model.card.embedding.size if model.card.embedding else 0
    out = np.empty((len(windows), size), dtype=np.float32)
    predicted = np.empty(len(windows), dtype=np.int64)
    for i, window in enumerate(windows):
        predicted[i] = model.classify(window).class_index
        out[i] = model.embedding()
    return out, predicted


async def keep_examples(
    hub: OwnerHub, entry: ModelConfig, model: Model, label: label_store.Label
) -> examples.Examples | None:
    """Cut the model's windows out of ``label``'s span in the readings file and keep them in the ledger
    beside the label (None, and nothing kept, if the span holds no complete window)."""
    card = model.card
    streams = [entry.inputs[i.name] for i in card.inputs]
    rate = entry.input_rate or card.rate_hz
    readings = await hub.readings(ReadingsStore.readings_between, streams, label.start_ts, label.end_ts)
    assembler = WindowAssembler(streams, rate=rate, window=card.window, hop=card.hop)
    cut = [w for w in assembler.feed(readings) if w.data is not None]
    if not cut:
        return None
    chosen = [cut[int(i)] for i in examples.spread(len(cut))]
    kept = examples.Examples(
        label.id,
        label.model,
        tuple(streams),
        rate,
        card.hop,
        tuple(w.start_ts for w in chosen),
        np.stack([w.data for w in chosen if w.data is not None]),
    )
    await hub.ledger(examples.keep, kept)
    return kept


async def labelled_windows(
    hub: OwnerHub, entry: ModelConfig, model: Model, labels: Sequence[label_store.Label]
) -> tuple[list[np.ndarray], list[str]]:
    """The windows every label taught, with its class, in time order.

    They come from the ledger, where each label keeps its windows; a label that has none kept yet (given
    before windows were kept, or whose span held none then) has them cut from the readings file now.
    """
    card = model.card
    kept = await hub.ledger(examples.of, [label.id for label in labels])
    windows: list[np.ndarray] = []
    classes: list[str] = []
    for label in labels:
        got = kept.get(label.id)
        if got is None or not got.fits(card.window, len(card.inputs)):
            got = await keep_examples(hub, entry, model, label)
        if got is None:
            continue
        windows += list(got.data)
        classes += [label.cls] * len(got.data)
    return windows, classes


def version_card(
    model: Model, outcome: Outcome, label_ids: Sequence[int], *, now: float, fit_ms: float, learnt_from: str
) -> dict[str, Any]:
    """The card of an adapted version: what it was learnt from, when, and what it measured."""
    metrics = model.card.metrics
    return {
        "model": model.name,
        "base_sha256": model.card.sha256,
        "created": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
        "labels": list(label_ids),
        "learnt_from": learnt_from,
        "classes": list(outcome.classes),
        "new_classes": list(outcome.new_classes),
        "windows": {"fit": outcome.fit_windows, "held_out": outcome.held_out_windows},
        "accuracy": {
            "held_out": outcome.held_out_accuracy,
            "held_out_before": outcome.running_held_out_accuracy,
            "test": round(outcome.test_accuracy, 4),
            "test_before": round(outcome.running_test_accuracy, 4),
            "test_split": metrics.split if metrics else None,
        },
        "kept": outcome.kept,
        "reason": outcome.reason,
        "fit_ms": round(fit_ms, 1),
    }


def learnt_from(model: Model, windows: Sequence[np.ndarray], classes: Sequence[str]) -> str:
    """What an adaptation learns from, digested: the model file and every labelled window, with its class."""
    digest = hashlib.sha256(model.card.sha256.encode())
    for window, cls in zip(windows, classes, strict=True):
        digest.update(cls.encode() + b"\0")
        digest.update(np.ascontiguousarray(window, dtype=np.float32).tobytes())
    return digest.hexdigest()


def running_version(conn: sqlite3.Connection, name: str, model: Model) -> tuple[int, Head | None]:
    """The adapted version model entry ``name`` runs and its head; (0, None) as shipped.

    A version learnt over another model file (the model was updated since) does not run: it is logged as
    dropped, with why, and the model runs as shipped until the owner's labels adapt it again.
    """
    running = versions.running(conn, name)
    head = running_head(model, running)
    if running[1] is not None and head is None:
        log.warning(
            "model %s: adapted version %d dropped: it was learnt over another model file than %s; "
            "it runs as shipped until a label adapts it again",
            name,
            running[0],
            model.model_file,
        )
        return versions.SHIPPED, None
    return running[0], head


def running_head(model: Model, running: tuple[int, Head | None, dict[str, Any] | None]) -> Head | None:
    """The running version's head, or None if it runs as shipped or was learnt on another model file."""
    _, head, card = running
    if head is None or card is None or card.get("base_sha256") != model.card.sha256:
        return None
    return head


async def adapt_model(hub: OwnerHub, name: str, *, from_shipped: bool = False) -> dict[str, Any]:
    """Adapt model ``name`` from every label the owner gave it; say what came of it.

    A new version is recorded only when what the hub runs changes: a candidate that is kept. A candidate
    that is not kept, or labels that hold nothing the running version did not learn from already, leave
    the running version as it is, and the result says why (``reason``); the version list grows only with
    what ran. The candidate is measured against the running version, or against the shipped model when
    ``from_shipped`` (after a label was removed, the running version still holds what it taught), and then
    a candidate not kept means the model runs as shipped again.
    """
    entry = model_entry(hub, name)
    model = await asyncio.to_thread(Model.load, entry.model)
    labels = await hub.ledger(label_store.listed, name)
    running = await hub.ledger(versions.running, name)
    unchanged = {"model": name, "adapted": False, "version": None, "running": running[0]}
    if not labels:
        return unchanged | {"reason": "no labels"}
    windows, classes = await labelled_windows(hub, entry, model, labels)
    if not windows:
        return unchanged | {
            "reason": "the labelled spans hold no complete window of the model's inputs "
            f"({model.card.window / (entry.input_rate or model.card.rate_hz):g} s of every input)",
        }
    digest = learnt_from(model, windows, classes)
    previous = running_head(model, running)
    if previous is not None and running[2] is not None and running[2].get("learnt_from") == digest:
        return unchanged | {
            "reason": f"its labels hold the same windows that version {running[0]} learnt from: nothing new"
        }
    if from_shipped:
        previous = None

    def work() -> tuple[Outcome, float]:
        base = base_of(model)
        x, shipped = embed(model, windows)
        if previous is None:
            guessed = [base.labels[i] for i in shipped]
        else:
            guessed = [previous.classes[i] for i in previous.predict(x, shipped)]
        started = time.perf_counter()
        outcome = adapt(base, Labelled(x, classes, guessed, shipped), running=previous)
        return outcome, (time.perf_counter() - started) * 1000

    outcome, fit_ms = await asyncio.to_thread(work)
    now = time.time()
    ids = [label.id for label in labels]
    card = version_card(model, outcome, ids, now=now, fit_ms=fit_ms, learnt_from=digest)
    if outcome.kept and outcome.head is not None:
        version = await hub.ledger(versions.record, name, card, outcome.head, now=now)
        return {"model": name, "adapted": True, "version": version, "card": card, "running": version}
    result = unchanged | {"card": card, "reason": outcome.reason}
    if from_shipped and running[0] != versions.SHIPPED:
        # What the running version learnt includes the removed label: the model runs as shipped instead.
        await hub.ledger(versions.reset, name, now=now)
        result |= {"running": versions.SHIPPED, "was_running": running[0]}
    return result
