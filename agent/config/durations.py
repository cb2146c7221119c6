"""Human durations in config files (``100ms``, ``30s``, ``5m``, ``2h``, ``7d``)."""

from __future__ import annotations

import re
from typing import Annotated

import msgspec

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
PATTERN = r"^\d+(\.\d+)?(ms|s|m|h|d)$"
_RE = re.compile(PATTERN)

Duration = Annotated[
    str,
    msgspec.Meta(pattern=PATTERN, description="a duration such as 100ms, 30s, 5m, 2h or 7d"),
]


def seconds(duration: str) -> float:
    """Return ``duration`` in seconds; it has already been validated against ``PATTERN``."""
    match = _RE.match(duration)
    if match is None:
        raise ValueError(f"not a duration: {duration!r}")
    unit = match.group(2)
    return float(duration[: -len(unit)]) * _UNITS[unit]
