"""Train the appliance model on sktime's ACSF1 (smart-plug power signatures) and write this folder.

Run from the repository root in an environment with the ``train`` extra (TensorFlow, sktime, matplotlib):

    python models/appliance/train.py

The same seed gives the same ``model.tflite`` on the same TensorFlow release and CPU.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import _training as t  # noqa: E402

SEED = 11
NAME = "appliance"
RATE_HZ = 0.1
WINDOW = 1460
HOP = 1460
EPS = 1e-6
# The archive numbers the classes 0-9; the names follow the order in which its description lists them.
LABELS = [
    "phone_charger",
    "coffee_machine",
    "computer_station",
    "fridge_freezer",
    "hifi",
    "lamp_cfl",
    "laptop_charger",
    "microwave",
    "printer",
    "television",
]


def load(split: str) -> tuple[np.ndarray, np.ndarray]:
    from sktime.datasets import load_acsf1

    x, y = load_acsf1(split=split, return_type="numpy3D")
    return x.astype(np.float32), np.array([int(v) for v in y])


def zscore(x: np.ndarray) -> np.ndarray:
    """Per-window, per-channel z-score: the form the archive publishes the series in."""
    mean = x.mean(axis=2, keepdims=True)
    std = x.std(axis=2, keepdims=True)
    return ((x - mean) / (std + EPS)).transpose(0, 2, 1).astype(np.float32)


def build() -> object:
    import tensorflow as tf

    layers = tf.keras.layers
    inp = layers.Input((WINDOW, 1))
    h = inp
    for filters, kernel, stride in ((32, 9, 2), (32, 7, 1), (64, 5, 1), (64, 5, 1)):
        h = layers.Conv1D(filters, kernel, strides=stride, padding="same", use_bias=False)(h)
        h = layers.BatchNormalization()(h)
        h = layers.ReLU()(h)
        h = layers.MaxPooling1D(2)(h)
    h = layers.Concatenate()([layers.GlobalAveragePooling1D()(h), layers.GlobalMaxPooling1D()(h)])
    h = layers.Dropout(0.5)(h)
    out = layers.Dense(len(LABELS), activation="softmax")(h)
    return tf.keras.Model(inp, out)


def main() -> None:
    t.set_seeds(SEED)
    x_train, y_train = load("TRAIN")
    x_test, y_test = load("TEST")
    # Chosen on a stratified 70/30 split of the training set: random shifts and noise as augmentation
    # scored lower there than none, so the final model trains on the series as they are.
    model = t.fit(
        build, zscore(x_train), y_train, epochs=150, batch_size=8, augment=None, seed=SEED, learning_rate=3e-3
    )
    model_file = HERE / "model.tflite"
    model_file.write_bytes(t.convert_int8(model, zscore(x_train)))

    # float16 keeps the held-out file small; the card's metrics are measured on exactly these values.
    np.savez_compressed(HERE / "test.npz", x=x_test.astype(np.float16), y=y_test.astype(np.int8))
    stored = np.load(HERE / "test.npz")
    probs = t.tflite_predict(model_file, zscore(stored["x"].astype(np.float32)))
    result = t.metrics(stored["y"], probs.argmax(axis=1), len(LABELS))
    keras_acc = float((model.predict(zscore(x_test), verbose=0).argmax(axis=1) == y_test).mean())
    print(f"keras float accuracy {keras_acc:.4f}; tflite int8 {result}")
    t.plot_confusion(
        result["confusion"], LABELS, "appliance: ACSF1 test split (int8 .tflite)", HERE / "confusion.png"
    )
    # One held-out series of each class, for the demo's simulated smart plug.
    firsts = [int(np.flatnonzero(y_test == c)[0]) for c in range(len(LABELS))]
    # The archive publishes z-normalised series, so the replayed values carry no unit.
    t.write_replay_csv(t.SIM_DATA / "smart_plug_test.csv", ["power"], x_test[firsts])

    card = {
        "name": NAME,
        "version": 1,
        "task": "which appliance is plugged into a smart plug, from its power signature",
        "file": "model.tflite",
        "sha256": t.sha256_file(model_file),
        "inputs": [{"name": "power", "quantity": "power", "unit": "W"}],
        "rate_hz": RATE_HZ,
        "window": WINDOW,
        "hop": HOP,
        "normalisation": {"kind": "window_zscore", "epsilon": EPS},
        "labels": LABELS,
        "quantisation": "full integer: int8 input, int8 output, int8 weights and activations",
        "metrics": {"split": "ACSF1 TEST (100 series)", **result},
        "test_data": "test.npz",
        "demo_series": firsts,
        "dataset": {
            "name": "ACSF1 (UCR univariate time series classification archive)",
            "package": "sktime",
            "files": [
                "sktime/datasets/data/ACSF1/ACSF1_TRAIN.ts",
                "sktime/datasets/data/ACSF1/ACSF1_TEST.ts",
            ],
            "train": 100,
            "test": 100,
        },
        "seed": SEED,
    }
    t.write_json(HERE / "card.json", card)
    print(f"wrote {model_file} ({model_file.stat().st_size} bytes), sha256 {card['sha256']}")


if __name__ == "__main__":
    main()
