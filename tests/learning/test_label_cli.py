"""`hearth label`, `hearth model versions|reset` on a hub's real files with the shipped activity model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from agent.cli import cli
from agent.inference.evaluate import load_test_split
from agent.inference.runtime import Model
from agent.readings import Reading, StreamInfo
from agent.store.ledger import open_ledger
from agent.store.readings import open_readings

T0 = 1_700_000_000.0
INPUTS = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")


def activity_hub(tmp_path: Path, hub: str) -> Path:
    """A ``hearth.toml`` in ``tmp_path`` for a hub (``hub``: its section's lines) with the activity model."""
    path = tmp_path / "hearth.toml"
    inputs = ", ".join(f'{name} = "wrist.{name}"' for name in INPUTS)
    path.write_text(
        f'[hub]\n{hub}data_dir = "{tmp_path / "data"}"\n\n'
        f'[[models]]\nname = "activity"\nmodel = "builtin:activity"\ninputs = {{ {inputs} }}\n'
    )
    return path


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return activity_hub(tmp_path, 'id = "learn-hub"\n')


def record_cycling(data_dir: Path, start: float, seconds: int) -> None:
    """A movement the shipped model never saw: a slow, even rotation of the wrist at 1 Hz, 10 Hz samples."""
    store = open_readings(data_dir)
    rng = np.random.default_rng(0)
    rows = []
    for i in range(seconds * 10):
        t = i / 10
        phase = 2 * np.pi * t
        values = (6 * np.sin(phase), 6 * np.cos(phase), 9.0, 1.5, -1.5 * np.sin(phase), 0.5)
        rows += [
            Reading(f"wrist.{name}", start + t, float(v + rng.normal(0, 0.2)))
            for name, v in zip(INPUTS, values, strict=True)
        ]
    store.write_batch(rows, [("simulated", StreamInfo.of("wrist", name, "")) for name in INPUTS])
    store.close()


def record_shipped_class(data_dir: Path, cls: str, start: float) -> float:
    """Record the shipped test split's windows of ``cls`` one after another from ``start``; return the end."""
    model = Model.load("builtin:activity")
    windows, classes = load_test_split(model)
    chosen = windows[classes == model.card.labels.index(cls)]
    rate = model.card.rate_hz
    rows = [
        Reading(f"wrist.{name}", start + (k * len(window) + i) / rate, float(window[i, j]))
        for k, window in enumerate(chosen)
        for i in range(len(window))
        for j, name in enumerate(INPUTS)
    ]
    store = open_readings(data_dir)
    store.write_batch(rows, [("simulated", StreamInfo.of("wrist", name, "")) for name in INPUTS])
    store.close()
    return start + len(rows) / len(INPUTS) / rate


def stored_versions(data_dir: Path) -> list[int]:
    ledger = open_ledger(data_dir)
    try:
        return [v for (v,) in ledger.execute("SELECT version FROM model_versions ORDER BY version")]
    finally:
        ledger.close()


def strand_readings(data_dir: Path) -> list[tuple[float, str | None]]:
    """(value, label) of every reading of the owner's labels strand ``labels.activity``."""
    store = open_readings(data_dir, read_only=True)
    try:
        return [(r.value, r.label) for r in store.readings_between(["labels.activity"], 0, 4e9)]
    finally:
        store.close()


def hearth(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args[:2], "-c", str(config), *args[2:]])


def test_labelling_a_new_activity_adapts_the_model_and_reset_returns_to_the_shipped_one(
    config: Path, tmp_path: Path
) -> None:
    record_cycling(tmp_path / "data", T0, 60)
    added = hearth(config, "label", "add", "activity", "cycling", "--from", str(T0), "--to", str(T0 + 60))
    assert added.exit_code == 0, added.output
    assert "label 1: activity was cycling" in added.output
    assert "activity v1: kept" in added.output
    assert "new classes: cycling" in added.output
    assert "runs version 1" in added.output

    listed = hearth(config, "label", "list")
    assert listed.exit_code == 0, listed.output
    assert "cycling" in listed.output

    shown = hearth(config, "model", "versions", "activity")
    assert shown.exit_code == 0, shown.output
    assert "* v1" in shown.output
    assert "classes: standing, walking, running, badminton, cycling" in shown.output

    # A restart: the files are opened afresh and the adapted version is still the one that runs.
    again = hearth(config, "model", "versions", "activity")
    assert "activity runs v1" in again.output

    reset = hearth(config, "model", "reset", "activity")
    assert reset.exit_code == 0, reset.output
    assert "activity runs as shipped (v0); it ran v1" in reset.output
    assert "activity runs v0" in hearth(config, "model", "versions", "activity").output


def test_removing_the_last_label_returns_the_model_to_its_shipped_version(
    config: Path, tmp_path: Path
) -> None:
    record_cycling(tmp_path / "data", T0, 40)
    assert (
        hearth(
            config, "label", "add", "activity", "cycling", "--from", str(T0), "--to", str(T0 + 40)
        ).exit_code
        == 0
    )
    spans = "cycling 2023-11-14T22:13:20Z..2023-11-14T22:14:00Z"
    assert strand_readings(tmp_path / "data") == [(40.0, spans)]
    removed = hearth(config, "label", "remove", "1")
    assert strand_readings(tmp_path / "data") == []
    assert removed.exit_code == 0, removed.output
    assert "removed label 1 (activity: cycling)" in removed.output
    assert "activity runs as shipped (version 0) again, no longer version 1: no labels left" in removed.output
    ledger = open_ledger(tmp_path / "data")
    assert ledger.execute("SELECT version FROM model_running").fetchall() == [(0,)]


def test_a_span_without_readings_is_kept_as_a_label_but_adapts_nothing(config: Path) -> None:
    added = hearth(config, "label", "add", "activity", "cycling", "--from", str(T0), "--to", str(T0 + 60))
    assert added.exit_code == 0, added.output
    assert "activity: kept version 0 (as shipped): the labelled spans hold no complete window" in added.output
    assert "* v0  as shipped" in hearth(config, "model", "versions", "activity").output


def test_a_label_whose_new_head_is_not_kept_records_no_version_and_says_why(
    config: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    record_cycling(data, T0, 60)
    assert (
        "activity v1: kept"
        in hearth(
            config, "label", "add", "activity", "cycling", "--from", str(T0), "--to", str(T0 + 60)
        ).output
    )
    # The owner gives standing a new name: a head that calls the shipped standing windows "resting" does
    # worse on the shipped test split, so it is not kept and version 1 runs on.
    start = T0 + 1000
    end = record_shipped_class(data, "standing", start)
    added = hearth(config, "label", "add", "activity", "resting", "--from", str(start), "--to", str(end))
    assert added.exit_code == 0, added.output
    assert "label 2: activity was resting" in added.output
    assert (
        "activity: kept version 1: the new head did worse on the shipped test split (0.800 against 1.000 now,"
        in added.output
    )
    assert "v2" not in added.output
    shown = hearth(config, "model", "versions", "activity")
    assert "v2" not in shown.output
    assert "activity runs v1" in shown.output
    assert stored_versions(data) == [1]

    # Removing it leaves exactly what version 1 learnt from: nothing to learn, nothing recorded.
    removed = hearth(config, "label", "remove", "2")
    assert removed.exit_code == 0, removed.output
    assert "activity: kept version 1: its labels hold the same windows that version 1 learnt from" in (
        removed.output
    )
    assert stored_versions(data) == [1]


def test_a_label_whose_span_holds_no_window_records_no_version(config: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    record_cycling(data, T0, 60)
    hearth(config, "label", "add", "activity", "cycling", "--from", str(T0), "--to", str(T0 + 60))
    later = T0 + 7200
    added = hearth(
        config, "label", "add", "activity", "cycling", "--from", str(later), "--to", str(later + 60)
    )
    assert added.exit_code == 0, added.output
    assert "no complete window of activity's inputs was recorded in its span" in added.output
    assert "activity: kept version 1: its labels hold the same windows that version 1 learnt from" in (
        added.output
    )
    assert stored_versions(data) == [1]
    assert "activity runs v1" in hearth(config, "model", "versions", "activity").output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("label", "add", "fridge", "on", "--from", "1", "--to", "2"),
            "error: no model 'fridge' on this hub",
        ),
        (
            ("label", "add", "activity", "Heat Pump", "--from", "1", "--to", "2"),
            "invalid class name 'Heat Pump'",
        ),
        (
            ("label", "add", "activity", "cycling", "--from", "5", "--to", "2"),
            "a label must end after it starts\n  hint: give --to a time after the start",
        ),
        (
            ("label", "add", "activity", "cycling", "--from", "yesterday", "--to", "2"),
            "'yesterday' is not a time",
        ),
        (("label", "add", "activity", "cycling", "--from", "nan", "--to", "2"), "'nan' is not a time"),
        (("label", "add", "activity", "cycling", "--from", "1", "--to", "inf"), "'inf' is not a time"),
        (("label", "remove", "7"), "error: no label 7"),
        (("label", "list", "--model", "fridge"), "error: no model 'fridge' on this hub"),
        (("model", "versions", "fridge"), "error: no model 'fridge' on this hub"),
        (("model", "reset", "fridge"), "error: no model 'fridge' on this hub"),
    ],
    ids=[
        "unknown-model",
        "bad-class",
        "backwards",
        "bad-time",
        "nan",
        "infinite",
        "unknown-label",
        "list-unknown-model",
        "versions-unknown",
        "reset-unknown",
    ],
)
def test_bad_input_gets_a_clear_error_and_no_traceback(
    config: Path, args: tuple[str, ...], message: str
) -> None:
    result = hearth(config, *args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
