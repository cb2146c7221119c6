"""The owner's labels and adapted versions are in the passport export, like the rest of their data."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from agent.consent.passport import export, verify_archive
from agent.learning import labels, versions
from agent.learning import strand as strand_of_labels
from agent.learning.head import Head
from agent.store.ledger import open_ledger
from agent.store.readings import open_readings

T0 = 1_700_000_000.0


def test_labels_and_model_versions_are_exported_without_the_binary_head(tmp_path: Path) -> None:
    ledger = open_ledger(tmp_path)
    store = open_readings(tmp_path)
    labels.add(ledger, "appliance", T0, T0 + 3600, "heat_pump", now=T0)
    head = Head(
        ("a", "heat_pump"),
        np.zeros(2, np.float32),
        np.ones(2, np.float32),
        np.eye(2, dtype=np.float32),
        np.zeros(2, np.float32),
    )
    versions.record(ledger, "appliance", {"labels": [1], "kept": True}, head, now=T0 + 1)
    archive = tmp_path / "passport.zip"
    export(store.conn, ledger, archive, hub_id="h", now=T0 + 2)
    assert verify_archive(archive) == []
    with zipfile.ZipFile(archive) as z:
        exported = {
            name: [json.loads(line) for line in z.read(f"ledger/{name}.jsonl").decode().splitlines()]
            for name in ("labels", "model_versions", "model_running")
        }
    assert [(r["model"], r["class"], r["start_ts"], r["end_ts"]) for r in exported["labels"]] == [
        ("appliance", "heat_pump", T0, T0 + 3600)
    ]
    (version,) = exported["model_versions"]
    assert "head" not in version
    assert json.loads(version["card"]) == {"kept": True, "labels": [1]}
    assert exported["model_running"][0]["version"] == 1


@pytest.mark.parametrize("strand", ["context.appliance", "labels.appliance"])
def test_forgetting_a_context_strand_forgets_its_labels_and_adapted_versions(
    tmp_path: Path, strand: str
) -> None:
    """``hearth forget context.appliance`` (or the labels' own strand) erases what the owner taught the model;
    it runs as shipped."""
    from click.testing import CliRunner

    from agent.cli import cli
    from agent.readings import Reading, StreamInfo

    data = tmp_path / "data"
    config = tmp_path / "hearth.toml"
    config.write_text(f'[hub]\nid = "h"\ndata_dir = "{data}"\n')
    data.mkdir()
    ledger = open_ledger(data)
    store = open_readings(data)
    info = StreamInfo("context.appliance", "context", "appliance", kind="context")
    other = StreamInfo("context.occupancy", "context", "occupancy", kind="context")
    store.write_batch(
        [Reading(info.name, T0, 1.0, "heat_pump"), Reading(other.name, T0, 1.0, "home")],
        [("inference", info), ("inference", other)],
    )
    store.close()
    head = Head(
        ("a", "heat_pump"),
        np.zeros(2, np.float32),
        np.ones(2, np.float32),
        np.eye(2, dtype=np.float32),
        np.zeros(2, np.float32),
    )
    made = [
        labels.add(ledger, "appliance", T0, T0 + 3600, "heat_pump", now=T0),
        labels.add(ledger, "appliance", T0 + 7200, T0 + 9000, "a", now=T0 + 1),
        labels.add(ledger, "occupancy", T0, T0 + 3600, "away", now=T0),
    ]
    store = open_readings(data)
    for label in made:
        strand_of_labels.record(store, label)
    store.close()
    versions.record(ledger, "appliance", {"labels": [1, 2]}, head, now=T0 + 1)
    versions.record(ledger, "occupancy", {"labels": [3]}, head, now=T0 + 1)
    ledger.close()

    done = CliRunner().invoke(cli, ["forget", "-c", str(config), strand, "--yes"])
    assert done.exit_code == 0, done.output
    # The labels' strand goes either way; the context strand only when it is the one forgotten.
    erased = {
        "context.appliance": "context.appliance, labels.appliance: 3",
        "labels.appliance": "labels.appliance: 2",
    }
    assert f"erased {erased[strand]} readings" in done.output
    assert "erased 2 labels of appliance" in done.output
    ledger = open_ledger(data)
    assert [label.model for label in labels.listed(ledger)] == ["occupancy"]
    assert versions.history(ledger, "appliance") == []
    assert versions.running(ledger, "appliance") == (versions.SHIPPED, None, None)
    assert versions.running(ledger, "occupancy")[0] == 1  # another model's labels stay
    ledger.close()
