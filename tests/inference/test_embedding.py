"""The shipped models' second output: the embedding that on-device adaptation learns from."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from agent.errors import ModelError
from agent.inference.evaluate import load_test_split
from agent.inference.runtime import Model


@pytest.mark.parametrize(("name", "size"), [("activity", 32), ("appliance", 128)])
def test_every_shipped_model_gives_its_embedding_after_each_window(name: str, size: int) -> None:
    model = Model.load(f"builtin:{name}")
    x, _ = load_test_split(model)
    embeddings = []
    for window in x[:: max(1, len(x) // 8)]:
        model.classify(window)
        embeddings.append(model.embedding())
    stacked = np.stack(embeddings)
    assert stacked.shape == (len(embeddings), size)
    assert np.all(stacked >= 0)  # ReLU activations, pooled
    assert len({e.tobytes() for e in embeddings}) == len(embeddings)
    with np.load(model.directory / "embeddings.npz") as train:
        assert train["x"].shape[1] == size
        assert set(train["y"].tolist()) == set(range(len(model.card.labels)))


@pytest.mark.parametrize("name", ["activity", "appliance"])
def test_the_embedding_is_its_tensor_dequantised_in_float32(name: str) -> None:
    model = Model.load(f"builtin:{name}")
    x, _ = load_test_split(model)
    assert model.embedding_index is not None
    scale, zero, _ = model.embedding_quant
    for window in x[:10]:
        model.classify(window)
        raw = np.asarray(model.interpreter.get_tensor(model.embedding_index)[0], dtype=np.float32)
        expected = (raw - np.float32(zero)) * np.float32(scale) if scale else raw
        got = model.embedding()
        assert got.dtype == np.float32
        assert np.array_equal(got.view(np.uint32), expected.view(np.uint32))


def test_a_card_naming_an_embedding_the_file_lacks_is_refused_at_load(model_copy: Path) -> None:
    card = json.loads((model_copy / "card.json").read_text())
    card["embedding"] = {"output": 2, "size": 32}
    (model_copy / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="output 2 \\(no such output\\) is not the card's embedding of 32"):
        Model.load(model_copy)


def test_a_model_without_an_embedding_says_so(model_copy: Path) -> None:
    card = json.loads((model_copy / "card.json").read_text())
    del card["embedding"]
    (model_copy / "card.json").write_text(json.dumps(card))
    model = Model.load(model_copy)
    with pytest.raises(ModelError, match="has no embedding output"):
        model.embedding()
