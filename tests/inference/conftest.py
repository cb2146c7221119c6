"""Fixtures of the inference tests: the shipped models, copies to damage, replay files of the test split."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from agent.inference.card import resolve_model_dir
from agent.inference.runtime import Model

ACTIVITY_INPUTS = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")


@pytest.fixture(scope="session")
def activity() -> Model:
    return Model.load("builtin:activity")


@pytest.fixture(scope="session")
def appliance() -> Model:
    return Model.load("builtin:appliance")


@pytest.fixture
def model_copy(tmp_path: Path) -> Path:
    """A copy of the activity model's folder that a test may damage."""
    target = tmp_path / "activity-copy"
    shutil.copytree(resolve_model_dir("builtin:activity"), target)
    return target


def write_replay(model: Model, path: Path, header: list[str]) -> np.ndarray:
    """Write the model's held-out split as a simulated-source CSV; return the true class per series."""
    with np.load(model.directory / "test.npz") as data:
        x, y = data["x"].astype(np.float64), data["y"].astype(np.int64)
    rows = x.transpose(0, 2, 1).reshape(-1, x.shape[1])
    with path.open("w", encoding="utf-8") as handle:
        handle.write(",".join(header) + "\n")
        for row in rows:
            handle.write(",".join(f"{v:.6g}" for v in row) + "\n")
    return y


def hub(
    tmp_path: Path, *, sources: list[dict[str, object]], models: list[dict[str, object]]
) -> dict[str, object]:
    """A config mapping for a hub keeping its data under ``tmp_path``."""
    return {
        "hub": {"id": "test-hub", "data_dir": str(tmp_path / "data")},
        "store": {"flush_interval": "50ms"},
        "sources": sources,
        "models": models,
    }


def activity_entry(
    model: str = "builtin:activity", device: str = "wrist", **extra: object
) -> dict[str, object]:
    return {
        "name": "activity",
        "model": model,
        "inputs": {q: f"{device}.{q}" for q in ACTIVITY_INPUTS},
        **extra,
    }
