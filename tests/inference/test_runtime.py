"""The runtime with the shipped models: cards, checks, quantisation, held-out metrics."""

from __future__ import annotations

import numpy as np
import pytest

from agent.inference.card import builtin_names
from agent.inference.evaluate import evaluate, load_test_split, score
from agent.inference.runtime import RUNTIME, Model


def test_both_models_ship_with_hearth() -> None:
    assert {"activity", "appliance"} <= set(builtin_names())
    assert RUNTIME in {"ai-edge-litert", "tflite-runtime"}


@pytest.mark.parametrize("name", ["activity", "appliance"])
def test_quantisation_is_read_from_the_tensors(name: str) -> None:
    model = Model.load(f"builtin:{name}", num_threads=2)
    assert model.num_threads == 2
    # activity: float32 I/O around int8 internals; appliance: int8 I/O (see the model cards).
    io = np.float32 if name == "activity" else np.int8
    assert model.input_quant.dtype == io
    assert model.output_quant.dtype == io
    assert (model.input_quant.scale > 0) == (io == np.int8)
    assert (model.output_quant.scale > 0) == (io == np.int8)
    assert model.input_shape == (1, model.card.window, len(model.card.inputs))


@pytest.mark.parametrize("name", ["activity", "appliance"])
def test_held_out_evaluation_reproduces_the_card(name: str) -> None:
    model = Model.load(f"builtin:{name}")
    result = evaluate(model)
    card = model.card.metrics
    assert card is not None
    assert result.n == card.n
    assert result.accuracy == pytest.approx(card.accuracy, abs=1e-4)
    assert result.macro_f1 == pytest.approx(card.macro_f1, abs=1e-4)
    assert result.confusion.tolist() == card.confusion


def test_targets_on_the_held_out_split(activity: Model, appliance: Model) -> None:
    assert evaluate(activity).accuracy >= 0.95
    assert evaluate(appliance).accuracy >= 0.75


def test_prediction_is_a_probability_distribution(activity: Model) -> None:
    x, y = load_test_split(activity)
    prediction = activity.classify(x[0])
    assert prediction.label == activity.card.labels[y[0]]
    assert 0.0 <= prediction.confidence <= 1.0
    probabilities = activity.probabilities()
    assert probabilities.argmax() == prediction.class_index
    assert probabilities.sum() == pytest.approx(1.0, abs=0.05)


def test_window_zscore_ignores_scale_and_offset(appliance: Model) -> None:
    x, _ = load_test_split(appliance)
    window = x[3]
    as_watts = window * 120.0 + 40.0
    assert appliance.classify(as_watts).label == appliance.classify(window).label


def test_score_counts_macro_f1_over_classes() -> None:
    result = score(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), 3)
    assert result.accuracy == 0.75
    # class 0: F1 2/3, class 1: F1 0.8, class 2 absent: 0
    assert result.macro_f1 == pytest.approx((2 / 3 + 0.8 + 0.0) / 3)
