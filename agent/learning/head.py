"""A light classifier head over a model's embedding: cosine prototypes, refined by a few softmax steps.

The head answers only for the classes the owner taught (labelled); where it picks any other class, the
shipped classifier's answer stands (``predict`` with ``shipped``, and the runner). The shipped classifier
was trained on far more windows of its classes than a head on their embeddings could match, so it stays
the prior: an adaptation changes the answer only where the owner's examples say so.

Pure NumPy, no I/O. Embeddings are standardised by the spread *within* the shipped training split's classes
(so the directions that tell classes apart count most) and put on the unit sphere. Each class starts as the
mean direction of its examples (a nearest-prototype classifier, which one example already defines); a few
hundred full-batch gradient steps of a class-balanced softmax regression, pulled back towards those
prototypes, then refine it. The owner's examples weigh more than the shipped training split's, so a
correction wins where the two disagree; the shipped examples keep the classes the owner never labelled.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

# Logit scale of the cosine prototypes: similarities in [-1, 1] become usable logits.
SCALE = 10.0
# How much one of the owner's examples weighs against one shipped training example of the same class.
OWNER_WEIGHT = 4.0


class Head(NamedTuple):
    """Class names, standardisation (``mean``, ``scale``), class weights and biases, and which classes the
    owner taught (None: the head answers for every class, as heads stored before this did)."""

    classes: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: np.ndarray
    taught: np.ndarray | None = None

    def answers(self, index: int) -> bool:
        """True if the head's answer stands when it picks class ``index``; else the shipped one does."""
        return self.taught is None or bool(self.taught[index])

    def features(self, embeddings: np.ndarray) -> np.ndarray:
        """Standardised embeddings on the unit sphere (rows)."""
        z = (np.asarray(embeddings, dtype=np.float32) - self.mean) / self.scale
        # The rows' Euclidean norms as np.linalg.norm sums them, without its argument handling (per window).
        norm = np.sqrt(np.add.reduce(z * z, axis=-1, keepdims=True))
        return np.asarray(z / np.maximum(norm, 1e-6), dtype=np.float32)

    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        """Class probabilities (n x classes) of embeddings (n x size)."""
        return _softmax(self.features(embeddings) @ self.weights.T + self.bias)

    def predict(self, embeddings: np.ndarray, shipped: np.ndarray | None = None) -> np.ndarray:
        """The class index of every embedding: the head's winner, or, given the shipped classifier's
        index of each (``shipped``), that where the head's winner is a class the owner did not teach."""
        best = np.asarray(self.probabilities(embeddings).argmax(axis=1), dtype=np.int64)
        if shipped is None or self.taught is None:
            return best
        return np.where(self.taught[best], best, np.asarray(shipped, dtype=np.int64))

    def to_bytes(self) -> bytes:
        """The head as a NumPy ``.npz`` archive (no pickles)."""
        out = io.BytesIO()
        arrays: dict[str, Any] = {
            "classes": np.array(self.classes, dtype=np.str_),
            "mean": self.mean,
            "scale": self.scale,
            "weights": self.weights,
            "bias": self.bias,
        }
        if self.taught is not None:
            arrays["taught"] = self.taught
        np.savez(out, **arrays)
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Head:
        """The head ``to_bytes`` wrote."""
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            return cls(
                tuple(str(c) for c in arrays["classes"]),
                arrays["mean"].astype(np.float32),
                arrays["scale"].astype(np.float32),
                arrays["weights"].astype(np.float32),
                arrays["bias"].astype(np.float32),
                arrays["taught"].astype(bool) if "taught" in arrays.files else None,
            )


def _softmax(logits: np.ndarray) -> np.ndarray:
    # The ufuncs' own reductions: what ndarray.max and .sum run, without their Python wrappers.
    shifted = logits - np.maximum.reduce(logits, axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return np.asarray(exp / np.add.reduce(exp, axis=-1, keepdims=True), dtype=np.float32)


def standardisation(embeddings: np.ndarray, classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the shipped training embeddings, and their spread within classes (pooled, per dimension).

    A floor keeps dimensions that barely vary (dead units) from being blown up.
    """
    x = np.asarray(embeddings, dtype=np.float32)
    y = np.asarray(classes, dtype=np.int64)
    centred = np.empty_like(x)
    for c in np.unique(y):
        members = y == c
        centred[members] = x[members] - x[members].mean(axis=0)
    spread = centred.std(axis=0)
    floor = max(float(spread.mean()) * 0.1, 1e-3)
    return x.mean(axis=0).astype(np.float32), np.maximum(spread, floor).astype(np.float32)


def fit(
    classes: Sequence[str],
    embeddings: np.ndarray,
    targets: np.ndarray,
    owner: np.ndarray,
    *,
    mean: np.ndarray,
    scale: np.ndarray,
    steps: int = 200,
    learning_rate: float = 0.25,
    pull: float = 0.05,
) -> Head:
    """Fit a head for ``classes`` on (``embeddings``, ``targets``); ``owner`` marks the owner's examples.

    Every class in ``classes`` needs at least one example. Deterministic: the same inputs give the same head.
    """
    classes = tuple(classes)
    x = np.asarray(embeddings, dtype=np.float32)
    y = np.asarray(targets, dtype=np.int64)
    k = len(classes)
    counts = np.bincount(y, minlength=k)
    if len(counts) != k or np.any(counts == 0):
        missing = [classes[i] for i in np.flatnonzero(counts[:k] == 0)]
        raise ValueError(f"no examples of {', '.join(missing)}")
    head = Head(classes, mean, scale, np.zeros((k, x.shape[1]), np.float32), np.zeros(k, np.float32))
    f = head.features(x)
    # Each example's weight: the owner's count more; then every class weighs the same in total.
    w = np.where(owner, OWNER_WEIGHT, 1.0).astype(np.float32)
    per_class = np.bincount(y, weights=w, minlength=k)
    w = (w / per_class[y] / k).astype(np.float32)
    prototypes = np.zeros((k, x.shape[1]), np.float32)
    np.add.at(prototypes, y, f * w[:, None])
    prototypes /= np.maximum(np.linalg.norm(prototypes, axis=1, keepdims=True), np.float32(1e-6))
    init = (SCALE * prototypes).astype(np.float32)
    weights = init.copy()
    bias = np.zeros(k, np.float32)
    onehot = np.eye(k, dtype=np.float32)[y]
    for _ in range(steps):
        g = (_softmax(f @ weights.T + bias) - onehot) * w[:, None]
        weights -= learning_rate * (g.T @ f + pull * (weights - init))
        bias -= 2 * learning_rate * g.sum(axis=0)
    taught = np.bincount(y[np.asarray(owner, dtype=bool)], minlength=k) > 0
    return head._replace(weights=weights.astype(np.float32), bias=bias.astype(np.float32), taught=taught)
