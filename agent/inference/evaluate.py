"""Offline evaluation: the held-out test split shipped beside a model, and CSV files of raw samples."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import NamedTuple

import numpy as np

from agent.errors import ModelError
from agent.inference.runtime import Model, Prediction
from agent.inference.windows import WindowAssembler
from agent.readings import Reading


class Evaluation(NamedTuple):
    """Metrics of a model on labelled windows; ``confusion[true][predicted]``."""

    accuracy: float
    macro_f1: float
    confusion: np.ndarray
    predicted: np.ndarray
    n: int


def score(truth: np.ndarray, predicted: np.ndarray, n_classes: int) -> Evaluation:
    """Accuracy, macro-F1 and confusion matrix of ``predicted`` against ``truth``."""
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(confusion, (truth, predicted), 1)
    tp = np.diag(confusion).astype(np.float64)
    denominator = 2 * tp + (confusion.sum(axis=0) - tp) + (confusion.sum(axis=1) - tp)
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    n = int(confusion.sum())
    accuracy = float(tp.sum() / n) if n else 0.0
    return Evaluation(accuracy, float(f1.mean()), confusion, predicted, n)


def load_test_split(model: Model) -> tuple[np.ndarray, np.ndarray]:
    """The held-out windows (n x window x inputs, card units) and their class indices."""
    name = model.card.test_data
    if name is None:
        raise ModelError(f"model {model.name!r} ships no held-out test data")
    path = model.directory / name
    try:
        with np.load(path) as data:
            x = np.ascontiguousarray(data["x"].astype(np.float32).transpose(0, 2, 1))
            y = data["y"].astype(np.int64)
    except (OSError, KeyError, ValueError) as exc:
        raise ModelError(f"{path}: cannot read the held-out test data: {exc}") from exc
    if x.shape[1:] != (model.card.window, len(model.card.inputs)):
        raise ModelError(f"{path}: windows of shape {list(x.shape[1:])} do not fit the card")
    return x, y


def evaluate(model: Model) -> Evaluation:
    """Run the model's held-out test split through the runtime and score it."""
    x, y = load_test_split(model)
    predicted = np.array([model.classify(window).class_index for window in x], dtype=np.int64)
    return score(y, predicted, len(model.card.labels))


class CsvWindow(NamedTuple):
    """A window of a CSV file: its first and last row (1-based, data rows) and the prediction."""

    first_row: int
    last_row: int
    prediction: Prediction | None
    skipped: str | None


def run_csv(model: Model, path: Path) -> list[CsvWindow]:
    """Classify a CSV of samples at the card's rate (header: the card's input names, ``name[unit]``)."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            lines = list(csv.reader(handle))
    except OSError as exc:
        raise ModelError(f"{path}: cannot read: {exc.strerror}") from exc
    if len(lines) < 2:
        raise ModelError(f"{path}: needs a header row and at least one data row")
    header = [cell.strip().partition("[")[0].strip() for cell in lines[0]]
    wanted = [i.name for i in model.card.inputs]
    missing = [name for name in wanted if name not in header]
    if missing:
        raise ModelError(
            f"{path}: no column for input(s) {', '.join(missing)}",
            hint=f"the header names the model's inputs: {','.join(wanted)}",
        )
    columns = [header.index(name) for name in wanted]
    card = model.card
    assembler = WindowAssembler(wanted, rate=card.rate_hz, window=card.window, hop=card.hop)
    out: list[CsvWindow] = []
    for number, line in enumerate(lines[1:], start=1):
        try:
            values = [float(line[c]) for c in columns]
        except (ValueError, IndexError):
            raise ModelError(f"{path}: row {number + 1}: expected numbers in columns {wanted}") from None
        ts = (number - 1) / card.rate_hz
        readings = [Reading(name, ts, v) for name, v in zip(wanted, values, strict=True)]
        for window in assembler.feed(readings):
            first = round((window.start_ts - (assembler.t0 or 0.0)) * card.rate_hz) + 1
            last = first + card.window - 1
            if window.data is None:
                out.append(CsvWindow(first, last, None, window.skipped))
            else:
                out.append(CsvWindow(first, last, model.classify(window.data), None))
    return out
