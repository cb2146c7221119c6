"""Strand patterns: a stream name (``kitchen_plug.power``) or a glob of them (``living_room.*``).

Every strand is ``<device>.<quantity>``; a context strand is ``context.<model>``. A glob's ``*`` and ``?``
stay within one part (``living_room.*`` is not ``living_room.a.b``), and ``*`` alone names every strand,
present and future. A pattern that could never name a strand is refused where it is given, so no grant
or erasure silently covers nothing.

A grant also names strands that exist on its hub (``unknown``): a stream recorded there, or a strand its
sources and models make (``agent.sources.strands``). A name that is neither is refused; a glob that names
none of them yet is accepted with a warning, since it may be meant for a device adopted later.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from difflib import get_close_matches
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


def _meet(a: str, b: str) -> bool:
    """True when some text matches both globs ``a`` and ``b`` (``*`` and ``?`` as in ``matches``)."""
    # meet[i][j]: a[i:] and b[j:] can match one text (filled from the ends: no recursion, any length).
    meet = [[False] * (len(b) + 1) for _ in range(len(a) + 1)]
    meet[len(a)][len(b)] = True
    for i in range(len(a), -1, -1):
        for j in range(len(b), -1, -1):
            if i < len(a) and a[i] == "*":  # the star matches nothing, or one more character of b's text
                meet[i][j] = meet[i + 1][j] or (j < len(b) and meet[i][j + 1])
            elif j < len(b) and b[j] == "*":
                meet[i][j] = meet[i][j + 1] or (i < len(a) and meet[i + 1][j])
            elif i < len(a) and j < len(b):
                meet[i][j] = (a[i] == b[j] or "?" in (a[i], b[j])) and meet[i + 1][j + 1]
    return meet[0][0]


def overlaps(pattern: str, made: str) -> bool:
    """True when some strand is named by ``pattern`` and by ``made``: a strand's name, or ``<prefix>.*`` for
    every strand under a prefix (a board's streams, a device's, forecasts), as the hub's sources list them."""
    if EVERY in (pattern, made):
        return True
    parts = pattern.split(".")
    if made.endswith(".*"):
        prefix = made[:-2].split(".")
        return len(parts) > len(prefix) and all(_meet(p, q) for p, q in zip(parts, prefix, strict=False))
    names = made.split(".")
    return len(parts) == len(names) and all(_meet(p, q) for p, q in zip(parts, names, strict=True))


def unknown(
    patterns: tuple[str, ...] | list[str], *, recorded: Collection[str], made: Collection[str]
) -> list[str]:
    """Warnings for the globs among ``patterns`` that name no strand of the hub yet (``recorded`` streams,
    strands its sources and models ``made``); ``ConsentError`` for a strand name that is neither."""
    warnings = []
    for pattern in patterns:
        if pattern == EVERY:
            continue  # every strand, present and future, by the owner's explicit choice
        if any(matches(pattern, stream) for stream in recorded) or any(overlaps(pattern, m) for m in made):
            continue
        if "*" in pattern or "?" in pattern:
            warnings.append(
                f"{pattern} names no strand on this hub yet: nothing leaves under it until a device or model"
                " it names is added"
            )
            continue
        raise ConsentError(
            f"no strand {pattern!r} on this hub: no stream of that name is recorded here, and no configured"
            " source or model makes one",
            hint=listing(recorded, made, near=pattern),
            field="strand",
        )
    return warnings


def listing(
    recorded: Collection[str], made: Collection[str], *, near: str | None = None, most: int = 12
) -> str:
    """``strands on this hub: a, b, ... and 3 more`` (or that there are none yet), after the strands whose
    names are close to ``near`` (a misspelt name): ``did you mean a? strands on this hub: ...``."""
    names = sorted({*recorded, *made})
    if not names:
        return "this hub has recorded no stream yet, and no source or model is configured"
    more = f" and {len(names) - most} more" if len(names) > most else ""
    # Only names of as many parts: a forecast or anomaly of the misspelt stream is not what was meant.
    alike = [n for n in names if near is not None and n.count(".") == near.count(".")]
    close = get_close_matches(near, alike, n=3, cutoff=0.8) if near else []
    guess = f"did you mean {' or '.join(close)}? " if close else ""
    return f"{guess}strands on this hub: {', '.join(names[:most])}{more}"
