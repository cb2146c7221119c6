"""Strand patterns: a stream name (``kitchen_plug.power``) or a glob of them (``living_room.*``)."""

from __future__ import annotations

import re
from fnmatch import fnmatchcase

from agent.errors import ConsentError

_PATTERN = re.compile(r"^[a-z0-9_*?\-]+(\.[a-z0-9_*?\-]+)*$")


def check_pattern(pattern: str) -> str:
    """Return ``pattern`` if it is a valid strand pattern, else raise ``ConsentError``."""
    if not _PATTERN.match(pattern):
        raise ConsentError(
            f"invalid strand {pattern!r}",
            hint="use a stream name such as living_room.temperature, or a glob such as living_room.*",
        )
    return pattern


def matches(pattern: str, stream: str) -> bool:
    """True when ``stream`` is named by ``pattern`` (``*`` and ``?`` never cross a ``.``)."""
    if "*" not in pattern and "?" not in pattern:
        return pattern == stream
    parts = pattern.split(".")
    names = stream.split(".")
    return len(parts) == len(names) and all(fnmatchcase(n, p) for p, n in zip(parts, names, strict=True))


def covered(patterns: tuple[str, ...] | list[str], stream: str) -> bool:
    """True when any of ``patterns`` names ``stream``."""
    return any(matches(p, stream) for p in patterns)
