"""The owner's labels as a strand, ``labels.<model>``: they leave the home only under a grant, like any other.

Each label is one reading of ``labels.<model>`` in the readings file, stamped when the owner made it:
``value`` is how many seconds it spans and ``label`` says what and when, ``"heat_pump
2026-12-02T14:00:00Z..2026-12-02T18:00:00Z"`` (the class, then the span in UTC). The ledger keeps the labels
themselves; this strand is their copy for the consent gate: the summariser publishes it only where a grant
names it (``labels.*``, ``labels.appliance``), at the grant's granularity (``events``: one message per label).
Removing a label erases its reading; forgetting ``context.<model>`` or ``labels.<model>`` erases both.
The hub's own displays show the span on the hub's clock (``on_clock``); the reading keeps it in UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, NamedTuple

from agent.readings import Reading, StreamInfo

if TYPE_CHECKING:
    from agent.config.clock import HubClock
    from agent.learning.labels import Label
    from agent.store.readings import ReadingsStore

DEVICE = "labels"
KIND = "label"
_SPAN = re.compile(r"^(\S+) (\S+)\.\.(\S+)$")


class Span(NamedTuple):
    """What a ``labels.<model>`` reading says: the class, and the span it names (unix seconds)."""

    cls: str
    start_ts: float
    end_ts: float


def name(model: str) -> str:
    """``labels.<model>``."""
    return f"{DEVICE}.{model}"


def model_of(strand: str) -> str | None:
    """The model a ``labels.<model>`` strand is about, or None if ``strand`` is not one."""
    device, _, model = strand.partition(".")
    return model if device == DEVICE and model and "." not in model else None


def info(model: str) -> StreamInfo:
    """How ``labels.<model>`` is declared in the readings file (its value is in seconds)."""
    return StreamInfo.of(DEVICE, model, "s", kind=KIND)


def reading(label: Label) -> Reading:
    """The reading that stands for ``label`` on its strand."""
    text = reading_label(label.cls, label.start_ts, label.end_ts)
    return Reading(name(label.model), label.created_at, round(label.end_ts - label.start_ts, 3), text)


def reading_label(cls: str, start_ts: float, end_ts: float) -> str:
    """``"<class> <start>..<end>"``, the span in UTC to the second."""
    return f"{cls} {_iso(start_ts)}..{_iso(end_ts)}"


def parse(text: str) -> Span | None:
    """The class and span a ``labels.<model>`` reading's label names, or None if it names none."""
    match = _SPAN.match(text)
    if match is None:
        return None
    try:
        start, end = (datetime.fromisoformat(match.group(i)).timestamp() for i in (2, 3))
    except ValueError:
        return None
    return Span(match.group(1), start, end)


def on_clock(text: str, clock: HubClock) -> str:
    """A ``labels.<model>`` reading's label as the hub shows it: the span on ``clock``, naming its zone
    (``heat_pump 2026-12-02 15:00:00..19:00:00 CET``, the end's date only when it differs); any other text
    as it is."""
    span = parse(text)
    if span is None:
        return text
    start = clock.when(span.start_ts)
    same_day = clock.format(span.end_ts, "%Y-%m-%d") == start[:10]
    end = clock.format(span.end_ts, "%H:%M:%S %Z") if same_day else clock.stamp(span.end_ts)
    return f"{span.cls} {start}..{end}"


def record(store: ReadingsStore, label: Label) -> None:
    """Write ``label``'s reading (on the readings file's writer)."""
    store.write_batch([reading(label)], [(DEVICE, info(label.model))])


def unrecord(store: ReadingsStore, label: Label) -> int:
    """Erase ``label``'s reading (on the readings file's writer); how many readings went (0 or 1)."""
    return store.erase_reading(name(label.model), label.created_at)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
