"""The audit log's hash chain: each entry commits to the one before it.

``hash = sha256(prev_hash | seq | ts | kind | canonical JSON of detail)``; the first entry's
``prev_hash`` is ``GENESIS``. Editing an entry breaks its hash; removing one breaks the next link;
truncating the tail is caught by comparing with the head the ledger records after each append.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any, NamedTuple

GENESIS = "0" * 64


class Entry(NamedTuple):
    """One audit row."""

    seq: int
    ts: float
    kind: str
    detail: str  # canonical JSON
    prev_hash: str
    hash: str


def canonical(detail: dict[str, Any]) -> str:
    """The JSON text of ``detail`` that is hashed (sorted keys, no spaces)."""
    return json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(prev_hash: str, seq: int, ts: float, kind: str, detail: str) -> str:
    """The hash of one entry given its predecessor's hash."""
    text = f"{prev_hash}|{seq}|{ts!r}|{kind}|{detail}"
    return hashlib.sha256(text.encode()).hexdigest()


def chain(prev_seq: int, prev_hash: str, items: Iterable[tuple[float, str, dict[str, Any]]]) -> list[Entry]:
    """Entries for ``items`` (ts, kind, detail) appended after (``prev_seq``, ``prev_hash``)."""
    out: list[Entry] = []
    for ts, kind, detail in items:
        prev_seq += 1
        text = canonical(detail)
        digest = entry_hash(prev_hash, prev_seq, ts, kind, text)
        out.append(Entry(prev_seq, ts, kind, text, prev_hash, digest))
        prev_hash = digest
    return out


def verify(entries: Iterable[Entry], *, head: tuple[int, str] | None = None) -> list[str]:
    """Every problem found in the chain (empty when intact); ``head`` is the recorded last (seq, hash)."""
    problems: list[str] = []
    prev_hash = GENESIS
    expected_seq = 1
    last: tuple[int, str] = (0, GENESIS)
    for e in entries:
        if e.seq != expected_seq:
            problems.append(f"entry {expected_seq} is missing (next entry is {e.seq})")
        if e.prev_hash != prev_hash:
            problems.append(f"entry {e.seq} does not follow the entry before it")
        if entry_hash(e.prev_hash, e.seq, e.ts, e.kind, e.detail) != e.hash:
            problems.append(f"entry {e.seq} ({e.kind}) was edited: its hash does not match its content")
        prev_hash = e.hash
        expected_seq = e.seq + 1
        last = (e.seq, e.hash)
    if head is not None and head != last:
        if head[0] > last[0]:
            problems.append(f"entries {last[0] + 1}..{head[0]} were removed from the end of the log")
        elif head[0] == last[0]:
            problems.append(f"the last entry {last[0]} does not match the recorded head")
    return problems
