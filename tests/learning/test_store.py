"""Labels and adapted versions in a real ledger file: storage, a rejected attempt, reset, restart."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from agent.errors import LearningError
from agent.learning import labels, versions
from agent.learning.head import Head
from agent.store.ledger import open_ledger

T0 = 1_700_000_000.0


def a_head(classes: tuple[str, ...], seed: int) -> Head:
    rng = np.random.default_rng(seed)
    k = len(classes)
    return Head(
        classes,
        np.zeros(4, np.float32),
        np.ones(4, np.float32),
        rng.normal(size=(k, 4)).astype(np.float32),
        np.zeros(k, np.float32),
    )


def test_labels_are_stored_listed_in_time_order_and_removed(tmp_path: Path) -> None:
    conn = open_ledger(tmp_path)
    later = labels.add(conn, "appliance", T0 + 100, T0 + 200, "heat_pump", now=T0)
    earlier = labels.add(conn, "appliance", T0, T0 + 50, "kettle", now=T0)
    other = labels.add(conn, "activity", T0, T0 + 10, "walking", now=T0)
    assert labels.listed(conn, "appliance") == [earlier, later]
    assert labels.listed(conn) == [other, earlier, later]
    assert labels.remove(conn, later.id) == later
    with pytest.raises(LearningError, match=f"no label {later.id}"):
        labels.remove(conn, later.id)
    conn.close()
    assert labels.listed(open_ledger(tmp_path)) == [other, earlier]


@pytest.mark.parametrize(
    ("model", "start", "end", "cls", "message"),
    [
        ("fridge", T0, T0 + 1, "on", "no model 'fridge' on this hub"),
        ("appliance", T0, T0 + 1, "Heat Pump", "invalid class name 'Heat Pump'"),
        ("appliance", T0, T0 + 1, "context.*", "invalid class name"),
        ("appliance", T0 + 1, T0, "heat_pump", "a label must end after it starts"),
        ("appliance", T0, T0 + 8 * 86400, "heat_pump", "spans at most 7 days; this one spans 8.0 days"),
        ("appliance", math.nan, T0, "heat_pump", "start and end must be times"),
        ("appliance", T0, math.inf, "heat_pump", "start and end must be times"),
    ],
    ids=["unknown-model", "spaces", "glob", "backwards", "too-long", "nan", "infinite"],
)
def test_a_bad_label_is_refused_with_what_is_wrong(
    model: str, start: float, end: float, cls: str, message: str
) -> None:
    with pytest.raises(LearningError, match=message):
        labels.check(model, start, end, cls, known_models=["appliance", "activity"])


def test_each_recorded_version_runs_and_stays_in_the_history(tmp_path: Path) -> None:
    conn = open_ledger(tmp_path)
    assert versions.running(conn, "appliance") == (0, None, None)
    first, second = a_head(("a", "b", "heat_pump"), 1), a_head(("a", "b", "heat_pump"), 3)
    assert versions.record(conn, "appliance", {"base_sha256": "x", "n": 1}, first, now=T0) == 1
    assert versions.record(conn, "appliance", {"base_sha256": "x", "n": 2}, second, now=T0 + 1) == 2
    number, head, card = versions.running(conn, "appliance")
    assert number == 2
    assert card == {"base_sha256": "x", "n": 2}
    assert head is not None
    assert np.array_equal(head.weights, second.weights)
    assert [(v.version, v.kept) for v in versions.history(conn, "appliance")] == [(1, True), (2, True)]
    assert versions.running(conn, "activity") == (0, None, None)


def test_the_adapted_version_survives_a_restart_and_reset_returns_to_the_shipped_model(
    tmp_path: Path,
) -> None:
    conn = open_ledger(tmp_path)
    kept = a_head(("a", "b", "heat_pump"), 2)
    versions.record(conn, "appliance", {"base_sha256": "x"}, kept, now=T0)
    conn.close()

    conn = open_ledger(tmp_path)
    number, head, _ = versions.running(conn, "appliance")
    assert number == 1
    assert head is not None
    assert np.array_equal(head.weights, kept.weights)
    assert versions.reset(conn, "appliance", now=T0 + 5) == 1
    conn.close()

    conn = open_ledger(tmp_path)
    assert versions.running(conn, "appliance") == (0, None, None)
    # The history stays; a new attempt gets the next number, never a reused one.
    assert versions.record(conn, "appliance", {"base_sha256": "x"}, kept, now=T0 + 9) == 2
    assert versions.running(conn, "appliance")[0] == 2
