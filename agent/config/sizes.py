"""Sizes in config files (``500MB``, ``2GB``; powers of 1000, as SD cards are sold)."""

from __future__ import annotations

import re
from typing import Annotated

import msgspec

_UNITS = {"KB": 1e3, "MB": 1e6, "GB": 1e9}
PATTERN = r"^\d+(\.\d+)?(KB|MB|GB)$"
_RE = re.compile(PATTERN)

Size = Annotated[str, msgspec.Meta(pattern=PATTERN, description="a size such as 500MB or 2GB")]


def size_bytes(size: str) -> int:
    """Return ``size`` in bytes; it has already been validated against ``PATTERN``."""
    match = _RE.match(size)
    if match is None:
        raise ValueError(f"not a size: {size!r}")
    unit = match.group(2)
    return int(float(size[: -len(unit)]) * _UNITS[unit])
