"""Strand patterns: a stream name (``kitchen_plug.power``) or a glob of them (``living_room.*``).

Every strand is ``<device>.<quantity>``; a context strand is ``context.<model>``. A glob's ``*`` and ``?``
stay within one part (``living_room.*`` is not ``living_room.a.b``), and ``*`` alone names every strand,
present and future. A pattern that could never name a strand is refused where it is given, so no grant
or erasure silently covers nothing.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase

from agent.errors import ConsentError

_PATTERN = re.compile(r"^[a-z0-9_*?\-]+(\.[a-z0-9_*?\-]+)*$")

EVERY = "*"
CONTEXT = "context"
LABELS = "labels"


def check_pattern(pattern: str) -> str:
    """Return ``pattern`` if it is a valid strand pattern, else raise ``ConsentError``."""
    if not _PATTERN.match(pattern):
        raise ConsentError(
            f"invalid strand {pattern!r}",
            hint="use a stream name such as living_room.temperature, or a glob such as living_room.*",
        )
    if pattern != EVERY and "." not in pattern:
        raise ConsentError(
            f"strand {pattern!r} names no stream: every strand is <device>.<quantity>",
            hint=f"use {pattern}.* for every stream of {pattern}, or * for every strand",
        )
    return pattern


def matches(pattern: str, stream: str) -> bool:
    """True when ``stream`` is named by ``pattern`` (``*`` alone names every strand)."""
    if pattern == EVERY:
        return True
    if "*" not in pattern and "?" not in pattern:
        return pattern == stream
    parts = pattern.split(".")
    names = stream.split(".")
    return len(parts) == len(names) and all(fnmatchcase(n, p) for p, n in zip(parts, names, strict=True))


def covered(patterns: tuple[str, ...] | list[str], stream: str) -> bool:
    """True when any of ``patterns`` names ``stream``."""
    return any(matches(p, stream) for p in patterns)


def may_name_context(pattern: str) -> bool:
    """True when ``pattern`` can name a context strand (``context.<model>``) or the owner's labels of one
    (``labels.<model>``)."""
    device = pattern.split(".", 1)[0]
    return pattern == EVERY or fnmatchcase(CONTEXT, device) or fnmatchcase(LABELS, device)
