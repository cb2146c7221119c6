"""The owner's labels and adapted versions are in the passport export, like the rest of their data."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from agent.consent.passport import export, verify_archive
from agent.learning import labels, versions
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
    versions.record(ledger, "appliance", {"labels": [1], "kept": True}, head, kept=True, now=T0 + 1)
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
