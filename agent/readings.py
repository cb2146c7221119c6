"""The values that flow through the pipeline.

``Reading`` is a plain NamedTuple because it sits on the hottest path (millions per hour on a
busy hub); everything else is a frozen msgspec Struct.
"""

from __future__ import annotations

from typing import NamedTuple

import msgspec


def next_stamp(ts: float, last: float) -> float:
    """``ts`` on the store's millisecond grid, moved to at least one millisecond after ``last``.

    The store keeps one value per stream per millisecond: a source that may stamp two readings of one
    stream within a millisecond stamps them with this, so neither overwrites the other.

    Computed in whole milliseconds: adding 0.001 to a float can round back onto the same millisecond.
    """
    return max(round(ts * 1000), round(last * 1000) + 1) / 1000


class Reading(NamedTuple):
    """One measurement of one stream.

    ``stream`` is ``<device>.<quantity>`` (``kitchen_plug.power``); ``ts`` is wall-clock unix seconds;
    ``label`` carries the class of a context strand (``context.activity`` = ``walking``) with
    ``value`` as its confidence, and ``version`` the version of the model that said so (0 as shipped,
    else the owner's adaptation: ``agent.learning.versions``); other readings have no version.
    """

    stream: str
    ts: float
    value: float
    label: str | None = None
    version: int | None = None


class StreamInfo(msgspec.Struct, frozen=True):
    """What a stream measures; declared by its source before its first reading."""

    name: str
    device: str
    quantity: str
    unit: str = ""
    kind: str = "sensor"  # sensor | context

    @classmethod
    def of(cls, device: str, quantity: str, unit: str = "", kind: str = "sensor") -> StreamInfo:
        return cls(f"{device}.{quantity}", device, quantity, unit, kind)
