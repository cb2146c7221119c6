"""Train the wrist-activity model on sktime's BasicMotions and write everything in this folder.

Run from the repository root in an environment with the ``train`` extra (TensorFlow, sktime, matplotlib):

    python models/activity/train.py

The same seed gives the same ``model.tflite`` byte for byte on the same TensorFlow release and CPU.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import _training as t  # noqa: E402

SEED = 7
NAME = "activity"
RATE_HZ = 10.0
WINDOW = 100
HOP = 100
LABELS = ["standing", "walking", "running", "badminton"]
INPUTS = [
    ("acc_x", "m/s²"),
    ("acc_y", "m/s²"),
    ("acc_z", "m/s²"),
    ("gyro_x", "rad/s"),
    ("gyro_y", "rad/s"),
    ("gyro_z", "rad/s"),
]


def load(split: str) -> tuple[np.ndarray, np.ndarray]:
    from sktime.datasets import load_basic_motions

    x, y = load_basic_motions(split=split, return_type="numpy3D")
    labels = np.array([LABELS.index(str(v).lower()) for v in y])
    return x.astype(np.float32), labels


def build() -> object:
    import tensorflow as tf

    layers = tf.keras.layers
    return tf.keras.Sequential(
        [
            layers.Input((WINDOW, len(INPUTS))),
            layers.Conv1D(16, 5, padding="same", activation="relu"),
            layers.MaxPooling1D(2),
            layers.Conv1D(24, 5, padding="same", activation="relu"),
            layers.MaxPooling1D(2),
            layers.Conv1D(32, 3, padding="same", activation="relu"),
            layers.GlobalAveragePooling1D(),
            layers.Dense(len(LABELS), activation="softmax"),
        ]
    )


def augment(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # Live windows start wherever the stream happens to be: train on random circular shifts.
    shifts = rng.integers(0, WINDOW, size=len(x))
    return np.stack([np.roll(row, s, axis=0) for row, s in zip(x, shifts, strict=True)])


def main() -> None:
    t.set_seeds(SEED)
    x_train, y_train = load("TRAIN")
    x_test, y_test = load("TEST")
    mean = x_train.mean(axis=(0, 2))
    std = x_train.std(axis=(0, 2))

    def normalise(x: np.ndarray) -> np.ndarray:
        return ((x.transpose(0, 2, 1) - mean) / std).astype(np.float32)

    model = t.fit(build, normalise(x_train), y_train, epochs=200, batch_size=8, augment=augment, seed=SEED)
    model_file = HERE / "model.tflite"
    model_file.write_bytes(t.convert_int8(model, normalise(x_train)))

    np.savez_compressed(HERE / "test.npz", x=x_test.astype(np.float32), y=y_test.astype(np.int8))
    stored = np.load(HERE / "test.npz")
    probs = t.tflite_predict(model_file, normalise(stored["x"]))
    result = t.metrics(stored["y"], probs.argmax(axis=1), len(LABELS))
    keras_acc = float((model.predict(normalise(x_test), verbose=0).argmax(axis=1) == y_test).mean())
    print(f"keras float accuracy {keras_acc:.4f}; tflite int8 {result}")
    t.plot_confusion(
        result["confusion"],
        LABELS,
        "activity: BasicMotions test split (int8 .tflite)",
        HERE / "confusion.png",
    )
    # Three held-out series of each activity, taking turns, for the demo's simulated wrist IMU.
    demo = [int(np.flatnonzero(y_test == c)[k]) for k in range(3) for c in range(len(LABELS))]
    t.write_replay_csv(t.SIM_DATA / "wrist_imu_test.csv", [f"{n}[{u}]" for n, u in INPUTS], x_test[demo])

    card = {
        "name": NAME,
        "version": 1,
        "task": "wrist activity from a smartwatch's accelerometer and gyroscope",
        "file": "model.tflite",
        "sha256": t.sha256_file(model_file),
        "inputs": [{"name": n, "quantity": n, "unit": u} for n, u in INPUTS],
        "rate_hz": RATE_HZ,
        "window": WINDOW,
        "hop": HOP,
        "normalisation": {
            "kind": "standardise",
            "mean": [round(float(v), 6) for v in mean],
            "std": [round(float(v), 6) for v in std],
        },
        "labels": LABELS,
        "quantisation": "full integer: int8 input, int8 output, int8 weights and activations",
        "metrics": {"split": "BasicMotions TEST (40 series)", **result},
        "test_data": "test.npz",
        "demo_series": demo,
        "dataset": {
            "name": "BasicMotions (UEA multivariate time series classification archive)",
            "package": "sktime",
            "files": [
                "sktime/datasets/data/BasicMotions/BasicMotions_TRAIN.ts",
                "sktime/datasets/data/BasicMotions/BasicMotions_TEST.ts",
            ],
            "train": 40,
            "test": 40,
        },
        "seed": SEED,
    }
    t.write_json(HERE / "card.json", card)
    print(f"wrote {model_file} ({model_file.stat().st_size} bytes), sha256 {card['sha256']}")


if __name__ == "__main__":
    main()
