"""Model cards: the machine-readable ``card.json`` beside every model, and where models are found.

A model is a folder holding ``card.json`` and the ``.tflite`` file it names. ``builtin:NAME`` refers to
the folders shipped under the repository's ``models/`` (``agent/_models`` in an installed wheel).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import msgspec

from agent.errors import ModelError

_PACKAGE_DIR = Path(__file__).resolve().parent.parent
BUILTIN_DIRS = (_PACKAGE_DIR / "_models", _PACKAGE_DIR.parent / "models")
CARD_FILE = "card.json"


class CardInput(msgspec.Struct, frozen=True):
    """One model input channel: what it measures and in which unit."""

    name: str
    quantity: str
    unit: str = ""


class Normalisation(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How raw values become model inputs.

    ``standardise``: ``(x - mean[c]) / std[c]`` per channel with the training set's constants;
    ``window_zscore``: each window's own mean and standard deviation per channel (``epsilon`` added to it);
    ``in_model``: the model standardises its own input (``mean``/``std`` are listed for reference);
    ``none``: values are fed as they are.
    """

    kind: Literal["standardise", "window_zscore", "in_model", "none"]
    mean: list[float] = []
    std: list[float] = []
    epsilon: float = 1e-6


class CardMetrics(msgspec.Struct, frozen=True):
    """Held-out metrics of the shipped ``.tflite`` file, as measured by the training script."""

    split: str
    accuracy: float
    macro_f1: float
    confusion: list[list[int]]
    n: int


class CardEmbedding(msgspec.Struct, frozen=True):
    """The model's second output: the penultimate layer's activations, which on-device adaptation uses.

    ``train`` names the file of the training split's embeddings (``x``) and classes (``y``).
    """

    output: int
    size: int
    train: str | None = None


class ModelCard(msgspec.Struct, frozen=True):
    """The facts the runtime needs about one model (``card.json``)."""

    name: str
    file: str
    sha256: str
    inputs: list[CardInput]
    rate_hz: float
    window: int
    hop: int
    normalisation: Normalisation
    labels: list[str]
    version: int = 1
    task: str = ""
    quantisation: str = ""
    metrics: CardMetrics | None = None
    test_data: str | None = None
    embedding: CardEmbedding | None = None


def builtin_names() -> list[str]:
    """Names of the models shipped with Hearth."""
    names: set[str] = set()
    for base in BUILTIN_DIRS:
        if base.is_dir():
            names.update(p.parent.name for p in base.glob(f"*/{CARD_FILE}"))
    return sorted(names)


def resolve_model_dir(ref: str) -> Path:
    """Map ``builtin:NAME``, a model folder or a ``card.json`` path to the model's folder."""
    if ref.startswith("builtin:"):
        name = ref.removeprefix("builtin:")
        for base in BUILTIN_DIRS:
            if (base / name / CARD_FILE).is_file():
                return base / name
        known = ", ".join(builtin_names()) or "none"
        raise ModelError(f"no built-in model {name!r}", hint=f"built-in models: {known}")
    path = Path(ref)
    return path.parent if path.name == CARD_FILE else path


def load_card(model_dir: Path) -> ModelCard:
    """Read and check ``card.json`` in ``model_dir``; raise ``ModelError`` naming what is wrong."""
    path = model_dir / CARD_FILE
    try:
        card = msgspec.json.decode(path.read_bytes(), type=ModelCard)
    except FileNotFoundError:
        raise ModelError(
            f"{path}: no model card", hint="a model folder holds card.json and its .tflite file"
        ) from None
    except OSError as exc:
        raise ModelError(f"{path}: cannot read: {exc.strerror}") from exc
    except msgspec.DecodeError as exc:
        raise ModelError(f"{path}: invalid model card: {exc}") from None
    _check_card(card, path)
    return card


def _check_card(card: ModelCard, path: Path) -> None:
    problems = []
    if card.rate_hz <= 0:
        problems.append("rate_hz must be positive")
    if card.window < 1 or card.hop < 1:
        problems.append("window and hop must be at least 1")
    if not card.inputs or not card.labels:
        problems.append("inputs and labels must not be empty")
    norm = card.normalisation
    if norm.kind == "standardise" and not len(card.inputs) == len(norm.mean) == len(norm.std):
        problems.append("normalisation.mean and .std need one value per input")
    if norm.kind == "standardise" and any(s <= 0 for s in norm.std):
        problems.append("normalisation.std must be positive")
    if card.embedding is not None and (card.embedding.output < 1 or card.embedding.size < 1):
        problems.append("embedding.output and .size must be at least 1 (output 0 is the classifier)")
    if problems:
        raise ModelError(f"{path}: invalid model card: {'; '.join(problems)}")
