"""Train the wrist-activity model on sktime's BasicMotions and write everything in this folder.

Run from the repository root in an environment with the ``train`` extra (TensorFlow, sktime, matplotlib):

    python models/activity/train.py
    python models/activity/train.py --reexport   # add the embedding output to the shipped file, no training

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
EPOCHS = 200
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


def build(mean: np.ndarray, std: np.ndarray, n_classes: int = len(LABELS)) -> object:
    import tensorflow as tf

    layers = tf.keras.layers
    return tf.keras.Sequential(
        [
            layers.Input((WINDOW, len(INPUTS))),
            # Standardisation is part of the model, so the runtime hands raw samples straight over.
            layers.Normalization(mean=mean, variance=std**2),
            layers.Conv1D(16, 5, padding="same", activation="relu"),
            layers.MaxPooling1D(2),
            layers.Conv1D(24, 5, padding="same", activation="relu"),
            layers.MaxPooling1D(2),
            layers.Conv1D(32, 3, padding="same", activation="relu"),
            layers.GlobalAveragePooling1D(),
            layers.Dense(n_classes, activation="softmax"),
        ]
    )


def augment(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # Live windows start wherever the stream happens to be: train on random circular shifts.
    shifts = rng.integers(0, WINDOW, size=len(x))
    return np.stack([np.roll(row, s, axis=0) for row, s in zip(x, shifts, strict=True)])


def card_sections(card: dict[str, object]) -> dict[str, str]:
    size = (HERE / "model.tflite").stat().st_size
    return {
        "summary": (
            f"A small 1-D CNN (three convolution layers, {card['parameters']} parameters, {size} bytes as int8) "
            "reads 10 s of a wrist-worn accelerometer and gyroscope and says whether the wearer is standing, "
            "walking, running or playing badminton."
        ),
        "normalisation": (
            "Per channel, `(x - mean) / std` with the training split's constants, done by the model's first "
            "layer (`in_model`; the constants are listed in card.json for reference, in input order), so the "
            "runtime feeds raw samples. The data set documents no units; running and badminton reach tens on "
            "the accelerometer axes while standing stays near zero (gravity appears to be removed), which "
            "reads as m/s², and the gyroscope's magnitudes as rad/s: our reading, not a documented fact."
        ),
        "windowing": (
            "The model sees one whole 10 s recording. Live, windows are cut every 10 s (hop = window); the "
            "held-out replay test plays the test recordings back to back through the simulated source and "
            "the live pipeline and so gets exactly the offline windows. Training used random circular shifts "
            "so that a live window need not start where an activity starts."
        ),
        "published": (
            "From memory of the UEA archive's published results (Bagnall et al. 2018, *The UEA multivariate "
            "time series classification archive*; Ruiz et al. 2021, *The great multivariate time series "
            "classification bake off*), not re-checked against the result files here: 1-NN DTW (dependent "
            "and independent) scores about 0.975-1.00, and ROCKET, HIVE-COTE, ResNet and InceptionTime score "
            "1.00; 1-NN Euclidean distance is far lower (about 0.68). The split is small (40 test recordings), "
            "so one error costs 2.5 points."
        ),
        "training": (
            "Keras, Adam with a cosine-decayed learning rate from 1e-3, 200 epochs, batch 8, a random circular "
            "shift of every training recording each epoch. Full-integer post-training quantisation with the "
            "training split as the representative data set. The architecture was fixed before the first run; "
            "nothing was tuned against the test split."
        ),
        "provenance": (
            "BasicMotions, from the UEA multivariate time series classification archive, read from the files "
            "that the `sktime` wheel ships (`sktime/datasets/data/BasicMotions/BasicMotions_{TRAIN,TEST}.ts`, "
            "sktime 1.2.0; nothing is downloaded). Recorded for a student project at the University of East "
            'Anglia: four people wore a smartwatch while standing ("resting"), walking, running and playing '
            "badminton, five times each, 10 s at 10 Hz; the archive splits the 80 recordings 40/40. "
            "Licence: the archive states no explicit licence; it distributes its data sets freely for research "
            "and asks users to cite it (Bagnall et al. 2018). sktime's code is BSD-3-Clause. Check these terms "
            "before redistributing the data commercially. `test.npz` (float32) and the demo's replay file "
            "`agent/sources/sim_data/wrist_imu_test.csv` (three test recordings of each activity, taking "
            "turns) are written from the same files by `train.py`."
        ),
    }


def channels_last(x: np.ndarray) -> np.ndarray:
    """Series as sktime loads them (n, channels, length) to model input (n, length, channels)."""
    return np.ascontiguousarray(x.transpose(0, 2, 1), dtype=np.float32)


def train(x_train: np.ndarray, y_train: np.ndarray, n_classes: int, *, epochs: int = EPOCHS) -> object:
    """The Keras classifier fitted on raw series ``x_train`` (n, channels, length) with the fixed seed."""
    t.set_seeds(SEED)
    mean = x_train.mean(axis=(0, 2))
    std = x_train.std(axis=(0, 2))
    return t.fit(
        lambda: build(mean, std, n_classes),
        channels_last(x_train),
        y_train,
        epochs=epochs,
        batch_size=8,
        augment=augment,
        seed=SEED,
    )


def export(model: object, x_train: np.ndarray) -> bytes:
    """The int8 ``.tflite`` file of ``model``: class probabilities first, then the embedding."""
    # Float input and output around int8 internals: this model's invoke takes only microseconds, so the
    # QUANTIZE/DEQUANTIZE ops and the standardisation inside it do in C what would cost as much again in
    # NumPy on the hub.
    return t.convert_int8(model, channels_last(x_train), int8_io=False)


def main() -> None:
    x_train, y_train = load("TRAIN")
    x_test, y_test = load("TEST")
    mean = x_train.mean(axis=(0, 2))
    std = x_train.std(axis=(0, 2))
    model = train(x_train, y_train, len(LABELS))
    model_file = HERE / "model.tflite"
    model_file.write_bytes(export(model, x_train))
    embedding = t.write_embeddings(HERE, model_file, channels_last(x_train), y_train)

    result = t.evaluate(
        HERE,
        model,
        x_test,
        y_test,
        prepare=channels_last,
        labels=LABELS,
        title="activity: BasicMotions test split (int8 .tflite)",
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
            "kind": "in_model",
            "mean": [round(float(v), 6) for v in mean],
            "std": [round(float(v), 6) for v in std],
        },
        "labels": LABELS,
        "quantisation": "int8 weights and activations; float32 input and output (QUANTIZE and DEQUANTIZE "
        "ops inside the model)",
        "metrics": {"split": "BasicMotions TEST (40 series)", **result},
        "test_data": "test.npz",
        "embedding": embedding,
        "demo_series": demo,
        "dataset": t.sktime_provenance(
            "BasicMotions",
            "BasicMotions (UEA multivariate time series classification archive)",
            train=40,
            test=40,
        ),
        "parameters": int(model.count_params()),
        "seed": SEED,
    }
    t.write_model_card(HERE, card, card_sections(card))


def reexport() -> None:
    """Give the shipped ``model.tflite`` its embedding output without retraining (the classifier stays)."""
    x_train, y_train = load("TRAIN")
    t.reexport(HERE, channels_last(x_train), y_train, card_sections)


if __name__ == "__main__":
    reexport() if "--reexport" in sys.argv[1:] else main()
