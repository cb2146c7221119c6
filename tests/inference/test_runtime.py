"""The runtime with the shipped models: cards, checks, quantisation, held-out metrics."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from agent.inference.card import Normalisation, builtin_names
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


def reference_tensor(model: Model, window: np.ndarray) -> np.ndarray:
    """The input tensor the card asks for, written plainly: normalise, quantise, round, saturate."""
    norm = model.card.normalisation
    scale, zero, dtype = model.input_quant
    in_scale, in_zero = (scale, zero) if scale else (1.0, 0)
    if norm.kind == "window_zscore":
        centred = (window - window.sum(axis=0, dtype=np.float64) / len(window)).astype(np.float32)
        std = np.sqrt(np.einsum("ij,ij->j", centred, centred) / len(window))
        z = centred * (1.0 / ((std + norm.epsilon) * in_scale)) + in_zero
    elif norm.kind == "standardise":
        inv = 1.0 / (np.asarray(norm.std) * in_scale)
        offset = (in_zero - np.asarray(norm.mean) * inv).astype(np.float32)
        z = (window * inv.astype(np.float32)).astype(np.float32) + offset
    elif scale:
        z = (window * np.float32(1.0 / in_scale)).astype(np.float32) + np.float32(in_zero)
    else:
        z = window.astype(np.float32)
    if scale:
        info = np.iinfo(dtype)
        z = np.rint(np.minimum(np.maximum(z, float(info.min)), float(info.max)))
    return z.astype(dtype)[None]


def normalisations(model: Model) -> list[Normalisation]:
    n = len(model.card.inputs)
    return [
        model.card.normalisation,
        Normalisation("window_zscore"),
        Normalisation("window_zscore", epsilon=0.5),
        Normalisation("standardise", mean=[1.5 - i for i in range(n)], std=[0.25 + i for i in range(n)]),
        Normalisation("none"),
    ]


@pytest.mark.parametrize("name", ["activity", "appliance"])
def test_quantise_is_the_cards_normalisation_bit_for_bit(name: str) -> None:
    model = Model.load(f"builtin:{name}")
    x, _ = load_test_split(model)
    rng = np.random.default_rng(5)
    shape = x.shape[1:]
    windows = [*x, *x[:10].astype(np.float64), np.zeros(shape, np.float32), np.full(shape, 1e30, np.float32)]
    for spread in (1e-4, 1, 1e6):
        windows += [(rng.normal(size=shape) * spread + at).astype(np.float32) for at in (0, -1e4, 1e7)]
    for normalisation in normalisations(model):
        card = msgspec.structs.replace(model.card, normalisation=normalisation)
        variant = Model(model.directory, card, model.interpreter, 1)
        for window in windows:
            got = variant.quantise(window)
            assert got.dtype == model.input_quant.dtype
            assert np.array_equal(got.view(np.uint8), reference_tensor(variant, window).view(np.uint8)), (
                normalisation.kind
            )


def test_score_counts_macro_f1_over_classes() -> None:
    result = score(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), 3)
    assert result.accuracy == 0.75
    # class 0: F1 2/3, class 1: F1 0.8, class 2 absent: 0
    assert result.macro_f1 == pytest.approx((2 / 3 + 0.8 + 0.0) / 3)
