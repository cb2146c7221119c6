"""Text line mode for the simplest sketches: ``temp=21.5 hum=40`` per line. No I/O.

A line holds ``name=value`` pairs separated by spaces or commas; a name may carry its unit in
brackets (``temp[°C]=21.5``). A line starting with ``#`` is the board's log. Lines end with
``\\n`` (a ``\\r`` before it is ignored) and are at most ``MAX_LINE`` bytes.
"""

from __future__ import annotations

import math
import re
from collections import deque

from firmware_bridge import wire
from firmware_bridge.errors import TextLineError
from firmware_bridge.messages import Dropped, TextComment, TextValues

_PAIR = re.compile(r"([a-z][a-z0-9_]{0,31})(?:\[([^\]\s=]{0,32})\])?=(\S+)")
_SPLIT = re.compile(r"[\s,]+")

TextEvent = TextValues | TextComment | Dropped


def parse_line(line: bytes) -> TextValues | TextComment | None:
    """Parse one line (without its newline); None for a blank line; raise ``TextLineError`` if malformed."""
    try:
        text = line.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise TextLineError("line is not UTF-8 text") from None
    if not text:
        return None
    if text.startswith("#"):
        return TextComment(text[1:].strip())
    values = []
    for token in _SPLIT.split(text):
        if not token:
            continue
        match = _PAIR.fullmatch(token)
        if match is None:
            raise TextLineError(f"{token!r:.40} is not name=value (names are lower-case: temp=21.5)")
        name, unit, raw = match.groups()
        try:
            value = float(raw)
        except ValueError:
            raise TextLineError(f"{name}: {raw!r:.40} is not a number") from None
        if not math.isfinite(value):
            raise TextLineError(f"{name}: {raw!r:.40} is not a finite number")
        values.append((name, unit or "", value))
    return TextValues(tuple(values))


class TextDecoder:
    """Streaming line decoder: ``events(data)`` returns the events of every completed line."""

    __slots__ = ("_buffer", "_discarding", "_events")

    def __init__(self) -> None:
        self._buffer = b""
        self._discarding = False
        self._events: deque[TextEvent] = deque()

    def events(self, data: bytes) -> list[TextEvent]:
        """Feed ``data`` and return the events of the lines it completed."""
        lines = (self._buffer + data).split(b"\n")
        tail = lines.pop()
        out: list[TextEvent] = []
        for line in lines:
            if self._discarding:
                self._discarding = False
                out.append(Dropped(TextLineError(f"line longer than {wire.MAX_LINE} bytes"), len(line)))
                continue
            if len(line) > wire.MAX_LINE:
                out.append(Dropped(TextLineError(f"line longer than {wire.MAX_LINE} bytes"), len(line)))
                continue
            try:
                event = parse_line(line)
            except TextLineError as exc:
                out.append(Dropped(exc, len(line)))
                continue
            if event is not None:
                out.append(event)
        if len(tail) > wire.MAX_LINE:
            self._discarding = True
            tail = b""
        self._buffer = tail
        return out

    def reset(self) -> None:
        """Forget a partial line."""
        self._buffer = b""
        self._discarding = False
