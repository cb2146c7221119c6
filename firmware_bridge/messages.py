"""The protocol's messages and the events a decoder yields, as frozen slotted dataclasses."""

from __future__ import annotations

from dataclasses import dataclass

from firmware_bridge.errors import FrameError, TextLineError

Scalar = int | float | str


@dataclass(frozen=True, slots=True)
class Sensor:
    """One quantity a board offers (``temperature`` in ``°C``); its index is its place in HELLO."""

    quantity: str
    unit: str = ""


@dataclass(frozen=True, slots=True)
class Hello:
    """Board → host: who the board is, which protocol it speaks, which sensors it offers."""

    board_id: str
    firmware: str
    protocol: int
    sensors: tuple[Sensor, ...]


@dataclass(frozen=True, slots=True)
class HelloRequest:
    """Host → board: identify yourself (the board answers with HELLO)."""

    protocol: int


@dataclass(frozen=True, slots=True)
class Reading:
    """Board → host: one value of sensor ``sensor`` (an index into HELLO's sensors)."""

    sensor: int
    value: float


@dataclass(frozen=True, slots=True)
class Readings:
    """Board → host: a batch of ``(sensor, value, age_ms)``; age is how long before sending it was taken."""

    entries: tuple[tuple[int, float, int], ...]


@dataclass(frozen=True, slots=True)
class Command:
    """Host → board: do ``name`` (with an optional argument); the board answers with ACK."""

    name: str
    arg: Scalar | None = None


@dataclass(frozen=True, slots=True)
class Ack:
    """Board → host: the command with sequence number ``seq`` finished with ``status`` (0 = done)."""

    seq: int
    status: int = 0
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Log:
    """Board → host: a log line (level 0 debug, 1 info, 2 warning, 3 error)."""

    level: int
    text: str


@dataclass(frozen=True, slots=True)
class Error:
    """Either way: something went wrong; ``ref`` is the sequence number of the frame it is about."""

    code: int
    text: str
    ref: int | None = None


Message = Hello | HelloRequest | Reading | Readings | Command | Ack | Log | Error


@dataclass(frozen=True, slots=True)
class Frame:
    """A decoded frame: its sequence number and message."""

    seq: int
    message: Message


@dataclass(frozen=True, slots=True)
class Dropped:
    """Bytes that were skipped because they were not a valid frame (or line), and why."""

    error: FrameError | TextLineError
    size: int


@dataclass(frozen=True, slots=True)
class TextValues:
    """A text-mode line of ``name=value`` pairs; a name may carry a unit: ``temp[°C]=21.5``."""

    values: tuple[tuple[str, str, float], ...]


@dataclass(frozen=True, slots=True)
class TextComment:
    """A text-mode line starting with ``#``: the board's log."""

    text: str
