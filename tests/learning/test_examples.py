"""A label keeps the windows it taught in the ledger: retention of the readings cannot take them, forget and
remove do, and the passport carries them."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from agent.cli import cli
from agent.consent.passport import export, verify_archive
from agent.learning import examples
from agent.readings import Reading, StreamInfo
from agent.store.ledger import open_ledger
from agent.store.readings import open_readings

from .test_label_cli import INPUTS, T0, config, hearth, record_cycling

__all__ = ["config"]  # the fixture, used by name

STREAMS = [f"wrist.{name}" for name in INPUTS]
DAY = 86400.0


def kept_windows(data_dir: Path) -> dict[int, examples.Examples]:
    ledger = open_ledger(data_dir)
    try:
        ids = [i for (i,) in ledger.execute("SELECT id FROM labels")]
        return examples.of(ledger, ids)
    finally:
        ledger.close()


def test_a_label_keeps_its_windows_and_readapts_after_retention_deleted_the_readings(
    config: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    record_cycling(data, T0, 60)
    record_cycling(data, T0 + 600, 40)
    first = hearth(config, "label", "add", "activity", "cycling", "--from", str(T0), "--to", str(T0 + 60))
    assert "activity v1: kept" in first.output, first.output
    second = hearth(
        config, "label", "add", "activity", "cycling", "--from", str(T0 + 600), "--to", str(T0 + 640)
    )
    assert "activity v2: kept" in second.output, second.output
    kept = kept_windows(data)
    assert {i: len(e.data) for i, e in kept.items()} == {1: 6, 2: 4}
    assert kept[1].streams == tuple(STREAMS)
    assert kept[1].data.shape == (6, 100, 6)

    # Ten days on, with a day of raw retention: every reading of both spans is rolled up and deleted.
    store = open_readings(data)
    store.apply_retention(now=T0 + 10 * DAY, raw_s=DAY, minute_s=30 * DAY, hour_s=365 * DAY)
    assert store.readings_between(STREAMS, T0, T0 + 700) == []
    store.close()

    # Removing the second label adapts afresh from the shipped model with the first label's kept windows.
    removed = hearth(config, "label", "remove", "2")
    assert removed.exit_code == 0, removed.output
    assert "activity v3: kept" in removed.output, removed.output
    assert "new classes: cycling" in removed.output
    versions = hearth(config, "model", "versions", "activity")
    assert "activity runs v3" in versions.output
    ledger = open_ledger(data)
    (card,) = ledger.execute("SELECT card FROM model_versions WHERE version = 3").fetchone()
    ledger.close()
    windows = json.loads(card)["windows"]
    assert windows["fit"] + windows["held_out"] == 6
    assert set(kept_windows(data)) == {1}


def test_forgetting_the_context_strand_deletes_the_kept_windows(config: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    record_cycling(data, T0, 60)
    store = open_readings(data)
    info = StreamInfo("context.activity", "context", "activity", kind="context")
    store.write_batch([Reading(info.name, T0, 0.9, "running")], [("inference", info)])
    store.close()
    hearth(config, "label", "add", "activity", "cycling", "--from", str(T0), "--to", str(T0 + 60))
    assert kept_windows(data)
    forgot = CliRunner().invoke(cli, ["forget", "-c", str(config), "context.activity", "--yes"])
    assert forgot.exit_code == 0, forgot.output
    ledger = open_ledger(data)
    assert ledger.execute("SELECT count(*) FROM label_examples").fetchone() == (0,)
    ledger.close()


def test_the_passport_carries_the_kept_windows_exactly(config: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    record_cycling(data, T0, 60)
    hearth(config, "label", "add", "activity", "cycling", "--from", str(T0), "--to", str(T0 + 60))
    (kept,) = kept_windows(data).values()
    ledger = open_ledger(data)
    store = open_readings(data)
    archive = tmp_path / "passport.zip"
    export(store.conn, ledger, archive, hub_id="h", now=T0 + 100)
    assert verify_archive(archive) == []
    with zipfile.ZipFile(archive) as z:
        (row,) = [json.loads(line) for line in z.read("ledger/label_examples.jsonl").decode().splitlines()]
    assert (row["label_id"], row["model"], json.loads(row["streams"])) == (1, "activity", STREAMS)
    shape = (row["count"], row["window"], row["inputs"])
    windows = np.frombuffer(bytes.fromhex(row["data"]), dtype="<f4").reshape(shape)
    assert np.array_equal(windows, kept.data)
    assert json.loads(row["starts"]) == list(kept.starts)


def test_a_long_span_keeps_at_most_max_windows_spread_over_it() -> None:
    chosen = examples.spread(1000, 10)
    assert len(chosen) == 10
    assert (chosen[0], chosen[-1]) == (0, 999)
    assert list(examples.spread(7, 10)) == list(range(7))
