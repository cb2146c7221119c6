"""Fixtures for the consent tests: a hub's two data files with some recorded readings."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.consent.grants import Grant, new_grant
from agent.consent.ledger import add_grant
from agent.consent.receipts import receipt_for
from agent.readings import Reading, StreamInfo
from agent.store.ledger import open_ledger
from agent.store.readings import ReadingsStore, open_readings

T0 = 1_700_000_000.0


class LocalHub:
    """A readings store and a ledger in one data folder."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.store: ReadingsStore = open_readings(data_dir)
        self.ledger: sqlite3.Connection = open_ledger(data_dir)

    def record(self, stream: str, points: list[tuple[float, float]], label: str | None = None) -> None:
        device, quantity = stream.split(".", 1)
        self.store.write_batch(
            [Reading(stream, ts, value, label) for ts, value in points],
            [("simulated", StreamInfo.of(device, quantity, "C"))],
        )

    def grant(self, recipient: str, strands: list[str], granularity: str, **kw: object) -> Grant:
        made = new_grant(
            recipient=recipient,
            purpose="test",
            strands=strands,
            granularity=granularity,
            precision=kw.pop("precision", None),  # type: ignore[arg-type]
            now=kw.pop("now", T0),  # type: ignore[arg-type]
            **kw,  # type: ignore[arg-type]
        )
        add_grant(self.ledger, made, receipt_for(made, hub_id="test-hub"))
        return made

    def close(self) -> None:
        self.store.close()
        self.ledger.close()


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[LocalHub]:
    made = LocalHub(tmp_path / "data")
    yield made
    made.close()
