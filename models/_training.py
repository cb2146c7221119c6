"""Shared steps of the model training scripts (train extra only: TensorFlow, sktime, matplotlib).

Each ``models/<name>/train.py`` loads its data set from the files sktime ships in its wheel, builds and
fits a small Keras model with fixed seeds, converts it to a fully int8-quantised ``.tflite`` file with a
representative data set, evaluates that file through LiteRT on the data set's own test split, and writes
the model card (``MODEL_CARD.md``, ``card.json``), the confusion matrix image, the compact held-out test
file (``test.npz``) and a replay CSV for the simulated source.

Every ``.tflite`` file has two outputs: the class probabilities first, then the embedding (the
penultimate layer's activations), which the hub's on-device adaptation learns a light head over.
``embeddings.npz`` keeps the training split's embeddings, so that head also remembers the shipped classes.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")

REPO = Path(__file__).resolve().parent.parent
SIM_DATA = REPO / "agent" / "sources" / "sim_data"


def set_seeds(seed: int) -> None:
    """Fix every random seed the training touches and make TensorFlow's kernels deterministic."""
    import tensorflow as tf

    random.seed(seed)
    np.random.seed(seed)
    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.threading.set_intra_op_parallelism_threads(1)


def sktime_data_file(name: str, split: str) -> str:
    """Path of the ``.ts`` file sktime ships for data set ``name`` (provenance for the card)."""
    import sktime.datasets

    path = Path(sktime.datasets.__file__).parent / "data" / name / f"{name}_{split}.ts"
    if not path.is_file():
        raise SystemExit(f"sktime does not ship {path}")
    return str(path)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def convert_int8(model: Any, representative: np.ndarray, *, int8_io: bool = True) -> bytes:
    """Full-integer quantisation: int8 weights and activations; int8 or float32 input and output."""
    import tensorflow as tf

    def samples() -> Any:
        for row in representative:
            yield [row[None].astype(np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = samples
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if int8_io:
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return expose_embedding(bytes(converter.convert()))


def expose_embedding(content: bytes) -> bytes:
    """The ``.tflite`` file with a second output: the input of its last FULLY_CONNECTED op (the embedding).

    Nothing else changes (the same ops, weights and first output), so an already shipped file keeps its
    classifier bit for bit. A file that already has two outputs is returned as it is.
    """
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    (signature,) = model.signatureDefs
    subgraph = model.subgraphs[signature.subgraphIndex]
    if len(subgraph.outputs) == 2:
        return content
    fully_connected = flatbuffer_utils.schema_fb.BuiltinOperator.FULLY_CONNECTED
    last = [
        op
        for op in subgraph.operators
        if max(
            model.operatorCodes[op.opcodeIndex].builtinCode,
            model.operatorCodes[op.opcodeIndex].deprecatedBuiltinCode,
        )
        == fully_connected
    ][-1]
    embedding = int(last.inputs[0])
    subgraph.outputs = np.array([*subgraph.outputs, embedding], dtype=np.int32)
    named = flatbuffer_utils.schema_fb.TensorMapT()
    named.name = b"output_1"
    named.tensorIndex = embedding
    signature.outputs.append(named)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def reexport(
    folder: Path,
    x_train: np.ndarray,
    y_train: np.ndarray,
    sections: Callable[[dict[str, Any]], dict[str, str]],
) -> None:
    """Add the embedding output to the shipped ``model.tflite`` in ``folder`` without retraining it.

    Rewrites ``embeddings.npz`` (``x_train`` normalised as the model takes it), ``card.json`` and
    ``MODEL_CARD.md``; the classifier, its metrics and ``test.npz`` stay as they are.
    """
    model_file = folder / "model.tflite"
    model_file.write_bytes(expose_embedding(model_file.read_bytes()))
    card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    card["sha256"] = sha256_file(model_file)
    card["embedding"] = write_embeddings(folder, model_file, x_train, y_train)
    ordered = {k: v for k, v in card.items() if k not in ("embedding", "demo_series")}
    position = list(ordered).index("test_data") + 1
    items = list(ordered.items())
    items[position:position] = [("embedding", card["embedding"]), ("demo_series", card["demo_series"])]
    card = dict(items)
    write_model_card(folder, card, sections(card))


def tflite_outputs(model_file: Path, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities and embeddings of every row of normalised ``x``, through the LiteRT interpreter.

    Stops if the file's first output is not the classifier (the runtime reads it as such).
    """
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model_file), num_threads=1)
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    outputs = interpreter.get_output_details()
    if len(outputs) != 2:
        raise SystemExit(f"{model_file}: {len(outputs)} outputs, want classes then embedding")
    in_scale, in_zero = inp["quantization"]
    results: list[list[np.ndarray]] = [[], []]
    for row in x:
        if in_scale:
            fed = np.clip(np.round(row / in_scale) + in_zero, -128, 127).astype(np.int8)
        else:
            fed = row.astype(np.float32)
        interpreter.set_tensor(inp["index"], fed[None])
        interpreter.invoke()
        for out, into in zip(outputs, results, strict=True):
            raw = interpreter.get_tensor(out["index"])[0].astype(np.float32)
            scale, zero = out["quantization"]
            into.append((raw - zero) * scale if scale else raw)
    probs, embeddings = (np.asarray(r) for r in results)
    if not np.allclose(probs.sum(axis=1), 1.0, atol=0.05):
        raise SystemExit(f"{model_file}: the first output does not hold class probabilities")
    return probs, embeddings


def tflite_predict(model_file: Path, x: np.ndarray) -> np.ndarray:
    """Class probabilities of every row of normalised ``x``, through the LiteRT interpreter."""
    return tflite_outputs(model_file, x)[0]


def write_embeddings(folder: Path, model_file: Path, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Write the training split's embeddings (through the ``.tflite`` file) as ``embeddings.npz``.

    Returns the card's ``embedding`` entry.
    """
    _, embeddings = tflite_outputs(model_file, x)
    np.savez_compressed(folder / "embeddings.npz", x=embeddings.astype(np.float16), y=y.astype(np.int8))
    return {"output": 1, "size": int(embeddings.shape[1]), "train": "embeddings.npz"}


def metrics(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict[str, Any]:
    """Accuracy, macro-F1 and the confusion matrix (rows: true class, columns: predicted)."""
    confusion = np.zeros((n_classes, n_classes), dtype=int)
    for t, p in zip(y_true, y_pred, strict=True):
        confusion[t, p] += 1
    f1s = []
    for c in range(n_classes):
        tp = confusion[c, c]
        fp = confusion[:, c].sum() - tp
        fn = confusion[c, :].sum() - tp
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return {
        "accuracy": round(float(np.trace(confusion) / confusion.sum()), 4),
        "macro_f1": round(float(np.mean(f1s)), 4),
        "confusion": confusion.tolist(),
        "n": int(confusion.sum()),
    }


def plot_confusion(confusion: Sequence[Sequence[int]], labels: Sequence[str], title: str, out: Path) -> None:
    """Write the confusion matrix as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.asarray(confusion)
    size = 2.4 + 0.55 * len(labels)
    fig, ax = plt.subplots(figsize=(size + 1.0, size), dpi=100)
    image = ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            colour = "white" if matrix[i, j] > matrix.max() / 2 else "black"
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", color=colour)
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    fig.savefig(out, metadata={"Software": None})
    plt.close(fig)


def evaluate(
    folder: Path,
    model: Any,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    prepare: Callable[[np.ndarray], np.ndarray],
    labels: Sequence[str],
    title: str,
    stored: type[np.floating[Any]] = np.float32,
) -> dict[str, Any]:
    """Write the test split as ``test.npz`` (x as ``stored``), score ``model.tflite`` on exactly that, plot it.

    ``prepare`` turns raw series into model input; the Keras model's accuracy is printed for comparison.
    """
    np.savez_compressed(folder / "test.npz", x=x_test.astype(stored), y=y_test.astype(np.int8))
    held_out = np.load(folder / "test.npz")
    probs = tflite_predict(folder / "model.tflite", prepare(held_out["x"].astype(np.float32)))
    result = metrics(held_out["y"], probs.argmax(axis=1), len(labels))
    keras_acc = float((model.predict(prepare(x_test), verbose=0).argmax(axis=1) == y_test).mean())
    print(f"keras float accuracy {keras_acc:.4f}; tflite int8 {result}")
    plot_confusion(result["confusion"], labels, title, folder / "confusion.png")
    return result


def write_replay_csv(out: Path, columns: Sequence[str], series: np.ndarray) -> None:
    """Concatenate held-out series (n, channels, length) into a simulated-source CSV, one row a sample."""
    rows = series.transpose(0, 2, 1).reshape(-1, series.shape[1])
    with out.open("w", encoding="utf-8") as handle:
        handle.write(",".join(columns) + "\n")
        for row in rows:
            handle.write(",".join(f"{v:.5g}" for v in row) + "\n")


def sktime_provenance(name: str, title: str, *, train: int, test: int) -> dict[str, Any]:
    """The card's ``dataset`` entry for data set ``name`` as read from the files the sktime wheel ships."""
    return {
        "name": title,
        "package": "sktime",
        "files": [f"sktime/datasets/data/{name}/{name}_{split}.ts" for split in ("TRAIN", "TEST")],
        "train": train,
        "test": test,
    }


def write_json(path: Path, document: dict[str, Any]) -> None:
    """Write ``document`` as stable, indented JSON."""
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def fit(
    build: Callable[[], Any],
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None,
    seed: int,
    learning_rate: float = 1e-3,
) -> Any:
    """Train ``build()`` on (x, y) for ``epochs``, augmenting each epoch's copy of x with ``augment``."""
    import tensorflow as tf

    model = build()
    schedule = tf.keras.optimizers.schedules.CosineDecay(
        learning_rate, decay_steps=epochs * int(np.ceil(len(x) / batch_size))
    )
    model.compile(
        optimizer=tf.keras.optimizers.Adam(schedule),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    rng = np.random.default_rng(seed)
    for epoch in range(epochs):
        xe = augment(x, rng) if augment is not None else x
        history = model.fit(xe, y, batch_size=batch_size, epochs=1, shuffle=True, verbose=0)
        if (epoch + 1) % 25 == 0:
            print(
                f"epoch {epoch + 1}: loss {history.history['loss'][-1]:.4f} "
                f"accuracy {history.history['accuracy'][-1]:.3f}"
            )
    return model


def write_model_card(folder: Path, card: dict[str, Any], sections: dict[str, str]) -> None:
    """Write ``card.json`` from ``card`` and ``MODEL_CARD.md`` from it and prose ``sections``; say so."""
    write_json(folder / "card.json", card)
    m = card["metrics"]
    norm = card["normalisation"]
    lines = [
        f"# Model card: {card['name']}",
        "",
        f"{card['task'].capitalize()}. {sections['summary']}",
        "",
        "## Inputs",
        "",
        "| input | quantity | unit |",
        "|---|---|---|",
        *[f"| `{i['name']}` | {i['quantity']} | {i['unit']} |" for i in card["inputs"]],
        "",
        f"- Sample rate: {card['rate_hz']:g} Hz. Window: {card['window']} samples "
        f"({card['window'] / card['rate_hz']:g} s). Hop: {card['hop']} samples ({card['hop'] / card['rate_hz']:g} s).",
        f"- Normalisation: `{norm['kind']}`. {sections['normalisation']}",
        f"- Tensors: {card['quantisation']}. Where input and output are int8 the runtime reads their scale and",
        "  zero point from the tensors; float input and output carry the quantisation inside the model.",
        f"- {sections['windowing']}",
        "",
        "## Outputs",
        "",
        "Labels, in output order: " + ", ".join(f"`{label}`" for label in card["labels"]) + ".",
        "The hub records the winning label as the context strand `context.<model entry name>`, with the",
        "class probability as its value.",
        "",
        "## Held-out metrics",
        "",
        f"Measured on the int8 `.tflite` file through LiteRT, on the data set's own test split ({m['split']}):",
        "",
        "| metric | value |",
        "|---|---|",
        f"| accuracy | {m['accuracy']:.4f} |",
        f"| macro-F1 | {m['macro_f1']:.4f} |",
        f"| windows | {m['n']} |",
        "",
        "![confusion matrix](confusion.png)",
        "",
        "`hearth model eval "
        + card["name"]
        + "` re-runs this evaluation from `test.npz` (the test split exactly",
        "as evaluated here, written by `train.py` from sktime's files) and prints the same figures.",
        "",
        "### Published methods on the same split",
        "",
        sections["published"],
        "",
        "## Training",
        "",
        sections["training"],
        "",
        f"- Seed {card['seed']}; TensorFlow's deterministic ops, one thread. Rerunning `train.py` with the same",
        "  TensorFlow release on the same CPU reproduces `model.tflite` byte for byte (checked twice).",
        "- Train with: `pip install -e '.[train]'` then `python models/" + card["name"] + "/train.py`.",
        "",
        "## Data: provenance and licence",
        "",
        sections["provenance"],
        "",
        "## File",
        "",
        f"- `{card['file']}`: {(folder / card['file']).stat().st_size} bytes, sha256 `{card['sha256']}`",
        "  (checked by the runtime before every load).",
        "- `card.json`: the facts above in machine-readable form; `test.npz`: held-out split; `confusion.png`.",
        f"- A second output: the {card['embedding']['size']}-value embedding (the penultimate layer), which",
        "  on-device adaptation learns from; `embeddings.npz` holds the training split's embeddings through",
        "  this file, so an adapted head still knows the shipped classes (docs/learning.md).",
        "",
    ]
    (folder / "MODEL_CARD.md").write_text("\n".join(lines), encoding="utf-8")
    model_file = folder / card["file"]
    print(f"wrote {model_file} ({model_file.stat().st_size} bytes), sha256 {card['sha256']}")
