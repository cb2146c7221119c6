"""The windows a label taught, kept in the ledger beside it, so the store's retention cannot take them.

A label names a span of time; the readings of that span live in the readings file, which deletes old
readings (``[store] retention``). When the owner labels a span, the hub cuts the model's input windows out of
it there and then and keeps them here, in the ledger (the owner's data, like the label itself): a later
adaptation learns from these, not from readings that may be gone. Forgetting the model's context strand or
removing the label deletes them with it, and the passport export carries them.

The windows are the model's input before its normalisation (window x inputs, in the streams' units, at the
model's rate), so they still serve after a model update that keeps its inputs, rate and window. SQL on
``label_examples`` lives here and nowhere else.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from agent.store.sqlite import transaction

# Windows kept per label at most, spread evenly over its span: a week of 10 s activity windows would be
# 60 000 of them (140 MB); this many teach as much and keep the ledger small (about 600 kB for activity).
MAX_WINDOWS = 256


class Examples(NamedTuple):
    """One label's windows: ``data`` is (count x window x inputs) float32; ``starts`` their start times."""

    label_id: int
    model: str
    streams: tuple[str, ...]
    rate: float
    hop: int
    starts: tuple[float, ...]
    data: np.ndarray

    def fits(self, window: int, inputs: int) -> bool:
        """True if these windows have the shape of a model's input (``window`` samples of ``inputs``)."""
        return tuple(self.data.shape[1:]) == (window, inputs)


def spread(count: int, limit: int = MAX_WINDOWS) -> np.ndarray:
    """Indices of at most ``limit`` of ``count`` windows, evenly spread from the first to the last."""
    if count <= limit:
        return np.arange(count)
    return np.unique(np.round(np.linspace(0, count - 1, limit)).astype(np.int64))


def keep(conn: sqlite3.Connection, examples: Examples) -> None:
    """Store (or replace) the windows of label ``examples.label_id``."""
    data = np.ascontiguousarray(examples.data, dtype="<f4")
    count, window, inputs = data.shape
    with transaction(conn, immediate=True):
        conn.execute(
            "INSERT OR REPLACE INTO label_examples"
            " (label_id, model, streams, rate, hop, window, inputs, count, starts, data)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                examples.label_id,
                examples.model,
                json.dumps(list(examples.streams)),
                examples.rate,
                examples.hop,
                window,
                inputs,
                count,
                json.dumps(list(examples.starts)),
                data.tobytes(),
            ),
        )


def of(conn: sqlite3.Connection, label_ids: Sequence[int]) -> dict[int, Examples]:
    """The kept windows of each of ``label_ids`` that has some."""
    out: dict[int, Examples] = {}
    for label_id in label_ids:
        row = conn.execute(
            "SELECT label_id, model, streams, rate, hop, window, inputs, count, starts, data"
            " FROM label_examples WHERE label_id = ?",
            (label_id,),
        ).fetchone()
        if row is None:
            continue
        lid, model, streams, rate, hop, window, inputs, count, starts, data = row
        array = np.frombuffer(data, dtype="<f4").reshape(count, window, inputs).astype(np.float32)
        names, times = tuple(json.loads(streams)), tuple(json.loads(starts))
        out[lid] = Examples(lid, model, names, rate, hop, times, array)
    return out


def taught(conn: sqlite3.Connection, label_id: int) -> bool:
    """True if label ``label_id`` holds at least one window of its model's inputs."""
    row = conn.execute("SELECT count FROM label_examples WHERE label_id = ?", (label_id,)).fetchone()
    return row is not None and int(row[0]) > 0


def remove(conn: sqlite3.Connection, label_id: int) -> int:
    """Delete the windows of one label; return how many there were."""
    with transaction(conn, immediate=True):
        row = conn.execute("SELECT count FROM label_examples WHERE label_id = ?", (label_id,)).fetchone()
        conn.execute("DELETE FROM label_examples WHERE label_id = ?", (label_id,))
    return 0 if row is None else int(row[0])


def erase(conn: sqlite3.Connection, model: str) -> int:
    """Delete every kept window of ``model``'s labels (in the caller's transaction); return how many."""
    (count,) = conn.execute(
        "SELECT coalesce(sum(count), 0) FROM label_examples WHERE model = ?", (model,)
    ).fetchone()
    conn.execute("DELETE FROM label_examples WHERE model = ?", (model,))
    return int(count)
