"""One adaptation step, pure: fit a candidate head on the owner's labelled windows, measure, keep or not.

The rule that makes it safe: a candidate is kept only if it is not worse than what runs now (the shipped
classifier or the previous adaptation) on a held-out share of the owner's labelled windows, and on the
shipped test split not worse by more than ``TOLERANCE`` than what runs now nor than the shipped model
(so successive adaptations cannot spend the allowance twice). Otherwise what runs now keeps running.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from agent.learning import head as heads
from agent.learning.head import Head

# Accuracy on the shipped test split a candidate may lose, the bound the owner is promised for the classes
# they did not label (0.05), or one window where the split is smaller than twenty. A tighter bound is below
# what the split can resolve: on the appliance split (90-100 windows) a head disagrees with the shipped
# classifier on about twelve windows, so its measured change has a spread of about 0.04 even when it is no
# worse; 0.02 refused a fifth of such candidates for that noise alone (docs/learning.md).
TOLERANCE = 0.05
# Each class keeps one labelled window in every ``HOLD_OUT_EVERY`` out of the fit, to measure it with.
HOLD_OUT_EVERY = 4


class Base(NamedTuple):
    """What the shipped model brings: its labels, its training and test embeddings, its test predictions."""

    labels: tuple[str, ...]
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    test_predicted: np.ndarray  # the shipped classifier's class index for every test window


class Labelled(NamedTuple):
    """The owner's labelled windows, as embeddings, with the class name of each and, for the running
    version, the class it predicted (shipped classifier or previous head)."""

    x: np.ndarray
    classes: Sequence[str]
    predicted: Sequence[str]
    shipped: np.ndarray | None = None  # the shipped classifier's class index of every window


class Outcome(NamedTuple):
    """A candidate head and its measurements; ``kept`` says whether it may replace the running version."""

    kept: bool
    reason: str
    head: Head | None
    classes: tuple[str, ...]
    new_classes: tuple[str, ...]
    fit_windows: int
    held_out_windows: int
    held_out_accuracy: float | None
    running_held_out_accuracy: float | None
    test_accuracy: float
    running_test_accuracy: float


def hold_out(classes: Sequence[str]) -> np.ndarray:
    """Which labelled windows are held out: per class, every ``HOLD_OUT_EVERY``-th (in time order)."""
    mask = np.zeros(len(classes), dtype=bool)
    seen: dict[str, int] = {}
    for i, name in enumerate(classes):
        seen[name] = seen.get(name, 0) + 1
        mask[i] = seen[name] % HOLD_OUT_EVERY == 0
    return mask


def adapt(base: Base, labelled: Labelled, *, running: Head | None, steps: int = 200) -> Outcome:
    """Fit a head on ``base``'s training embeddings and the owner's windows; decide whether to keep it."""
    names = list(labelled.classes)
    new = tuple(sorted({c for c in names if c not in base.labels}))
    classes = (*base.labels, *new)
    index = {c: i for i, c in enumerate(classes)}
    held = hold_out(names)
    fit_mask = ~held
    owner_x = np.asarray(labelled.x, dtype=np.float32).reshape(len(names), -1)
    owner_y = np.array([index[c] for c in names], dtype=np.int64)
    mean, scale = heads.standardisation(base.train_x, base.train_y)
    x = np.concatenate([base.train_x.astype(np.float32), owner_x[fit_mask]])
    y = np.concatenate([base.train_y.astype(np.int64), owner_y[fit_mask]])
    owner = np.concatenate([np.zeros(len(base.train_y), bool), np.ones(int(fit_mask.sum()), bool)])
    candidate = heads.fit(classes, x, y, owner, mean=mean, scale=scale, steps=steps)

    running_test = _running_test_accuracy(base, running)
    shipped_test = float((base.test_predicted == base.test_y).mean())
    test_accuracy = float((candidate.predict(base.test_x, base.test_predicted) == base.test_y).mean())
    held_acc = running_held = None
    if held.any():
        truth = [names[int(i)] for i in np.flatnonzero(held)]
        shipped = None if labelled.shipped is None else np.asarray(labelled.shipped)[held]
        guessed = [classes[i] for i in candidate.predict(owner_x[held], shipped)]
        held_acc = _agree(guessed, truth)
        running_held = _agree([labelled.predicted[int(i)] for i in np.flatnonzero(held)], truth)
    kept, reason = True, "not worse on the held-out labels and the shipped test split"
    if held_acc is not None and running_held is not None and held_acc < running_held:
        kept, reason = (
            False,
            f"the new head did worse on the held-out labels ({held_acc:.3f} against {running_held:.3f} now)",
        )
    elif test_accuracy < max(running_test, shipped_test) - tolerance(len(base.test_y)) - 1e-9:
        kept, reason = (
            False,
            (
                f"the new head did worse on the shipped test split ({test_accuracy:.3f} against"
                f" {running_test:.3f} now,"
                f" {shipped_test:.3f} as shipped)"
            ),
        )
    elif held_acc is None:
        reason = "not worse on the shipped test split; too few labels to hold any out (4 per class needed)"
    return Outcome(
        kept,
        reason,
        candidate,
        classes,
        new,
        int(fit_mask.sum()),
        int(held.sum()),
        held_acc,
        running_held,
        test_accuracy,
        running_test,
    )


def tolerance(windows: int) -> float:
    """Accuracy a candidate may lose on a test split of ``windows`` windows."""
    return max(TOLERANCE, 1.0 / max(windows, 1))


def _running_test_accuracy(base: Base, running: Head | None) -> float:
    if running is None:
        return float((base.test_predicted == base.test_y).mean())
    # A previous head may have classes of its own; the shipped test split only has the shipped ones.
    predicted = [running.classes[i] for i in running.predict(base.test_x, base.test_predicted)]
    return _agree(predicted, [base.labels[i] for i in base.test_y])


def _agree(predicted: Sequence[str], truth: Sequence[str]) -> float:
    return float(np.mean([p == t for p, t in zip(predicted, truth, strict=True)])) if truth else 0.0
