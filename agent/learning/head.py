"""A light classifier head over a model's embedding: class prototypes, refined by a few softmax steps.

Pure NumPy, no I/O. Embeddings are standardised with the shipped training split's statistics; each class
starts as the mean of its examples, and the head is the nearest-prototype classifier written as a linear
layer (``2 z·p - |p|²`` over the training spread), which one example already defines. A few full-batch
gradient steps of a class-balanced softmax regression, pulled back towards those prototypes, then refine
it. The owner's examples weigh more than the shipped training split's, so a correction wins where the two
disagree; the shipped examples keep the classes the owner never labelled.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

# How much one of the owner's examples weighs against one shipped training example of the same class.
OWNER_WEIGHT = 4.0


class Head(NamedTuple):
    """Class names, standardisation (``mean``, ``scale``), unit-norm class weights and biases."""

    classes: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: np.ndarray

    def features(self, embeddings: np.ndarray) -> np.ndarray:
        """Standardised embeddings (rows)."""
        return np.asarray(
            (np.asarray(embeddings, dtype=np.float32) - self.mean) / self.scale, dtype=np.float32
        )

    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        """Class probabilities (n x classes) of embeddings (n x size)."""
        return _softmax(self.features(embeddings) @ self.weights.T + self.bias)

    def predict(self, embeddings: np.ndarray) -> np.ndarray:
        """The winning class index of every embedding."""
        return np.asarray(self.probabilities(embeddings).argmax(axis=1), dtype=np.int64)

    def to_bytes(self) -> bytes:
        """The head as a NumPy ``.npz`` archive (no pickles)."""
        out = io.BytesIO()
        np.savez(
            out,
            classes=np.array(self.classes, dtype=np.str_),
            mean=self.mean,
            scale=self.scale,
            weights=self.weights,
            bias=self.bias,
        )
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
            )


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return np.asarray(exp / exp.sum(axis=-1, keepdims=True), dtype=np.float32)


def standardisation(embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and spread of the shipped training embeddings (a floor keeps dead units quiet)."""
    x = np.asarray(embeddings, dtype=np.float32)
    mean = x.mean(axis=0)
    spread = x.std(axis=0)
    floor = max(float(spread.mean()) * 0.1, 1e-3)
    return mean.astype(np.float32), np.maximum(spread, floor).astype(np.float32)


def fit(
    classes: Sequence[str],
    embeddings: np.ndarray,
    targets: np.ndarray,
    owner: np.ndarray,
    *,
    mean: np.ndarray,
    scale: np.ndarray,
    steps: int = 50,
    learning_rate: float = 0.05,
    pull: float = 1.0,
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
    z = head.features(x)
    # Each example's weight: the owner's count more; then every class weighs the same in total.
    w = np.where(owner, OWNER_WEIGHT, 1.0).astype(np.float32)
    per_class = np.bincount(y, weights=w, minlength=k)
    w = (w / per_class[y] / k).astype(np.float32)
    prototypes = np.zeros((k, x.shape[1]), np.float32)
    np.add.at(prototypes, y, z * (w * k)[:, None])
    # The nearest prototype as a linear layer; the training spread sets how sure its probabilities are.
    spread = max(float(np.sum(w * np.sum((z - prototypes[y]) ** 2, axis=1))), 1e-3)
    init_w = (2 * prototypes / spread).astype(np.float32)
    init_b = (-np.sum(prototypes**2, axis=1) / spread).astype(np.float32)
    weights, bias = init_w.copy(), init_b.copy()
    onehot = np.eye(k, dtype=np.float32)[y]
    # Step sizes in units of the features' size, so the refinement moves as far whatever the embedding.
    size = float(np.mean(np.sum(z**2, axis=1))) + 1.0
    for _ in range(steps):
        g = (_softmax(z @ weights.T + bias) - onehot) * w[:, None]
        weights -= learning_rate / size * (g.T @ z + pull * (weights - init_w))
        bias -= learning_rate * (g.sum(axis=0) + pull * (bias - init_b) / size)
    return head._replace(weights=weights.astype(np.float32), bias=bias.astype(np.float32))
