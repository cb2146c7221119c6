"""The framed binary codec: messages ⇄ COBS frames with a CRC-32 and a CBOR payload. No I/O.

``encode(message, seq)`` returns the bytes to write; ``FrameDecoder`` takes bytes as they arrive
and yields ``Frame`` / ``Dropped`` events, or ``NEED_DATA``. ``decode_frame`` decodes the bytes
between two delimiters and raises the exact ``FrameError`` for malformed input.
"""

from __future__ import annotations

import math
import re
import struct
import zlib
from collections import deque
from typing import Any, Final

import cbor2
from cobs import cobs  # type: ignore[import-untyped]

from firmware_bridge import wire
from firmware_bridge.errors import (
    CobsError,
    CrcMismatch,
    FrameError,
    FrameTooLarge,
    FrameTooShort,
    PayloadError,
    UnknownMessageType,
)
from firmware_bridge.messages import (
    Ack,
    Command,
    Dropped,
    Error,
    Frame,
    Hello,
    HelloRequest,
    Log,
    Message,
    Reading,
    Readings,
    Sensor,
)


class _NeedData:
    """The decoder has no complete frame yet."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = _NeedData()
Event = Frame | Dropped

_HEADER = struct.Struct("<BH")
_CRC = struct.Struct("<I")
_QUANTITY = re.compile(r"[a-z][a-z0-9_]{0,31}")


# -- encoding ------------------------------------------------------------------------------------


def _payload(message: Message) -> tuple[int, dict[int, Any]]:  # noqa: PLR0911 - one per type
    if isinstance(message, Reading):
        return wire.READING, {0: message.sensor, 1: message.value}
    if isinstance(message, Readings):
        return wire.READINGS, {0: [list(entry) for entry in message.entries]}
    if isinstance(message, Hello):
        sensors = [[s.quantity, s.unit] for s in message.sensors]
        return wire.HELLO, {0: message.board_id, 1: message.firmware, 2: message.protocol, 3: sensors}
    if isinstance(message, HelloRequest):
        return wire.HELLO_REQUEST, {0: message.protocol}
    if isinstance(message, Command):
        body: dict[int, Any] = {0: message.name}
        if message.arg is not None:
            body[1] = message.arg
        return wire.COMMAND, body
    if isinstance(message, Ack):
        body = {0: message.seq, 1: message.status}
        if message.detail:
            body[2] = message.detail
        return wire.ACK, body
    if isinstance(message, Log):
        return wire.LOG, {0: message.level, 1: message.text}
    body = {0: message.code, 1: message.text}
    if message.ref is not None:
        body[2] = message.ref
    return wire.ERROR, body


def encode_body(message: Message, seq: int) -> bytes:
    """The frame body (header, payload, CRC) of ``message``, before byte stuffing."""
    kind, payload = _payload(message)
    # canonical: sorted keys and the shortest float that keeps the value, so every codec agrees byte for byte.
    head = _HEADER.pack(kind, seq % wire.SEQ_MODULO) + cbor2.dumps(payload, canonical=True)
    body = head + _CRC.pack(zlib.crc32(head))
    if len(body) > wire.MAX_BODY:
        raise FrameTooLarge(
            f"{type(message).__name__} needs a {len(body)}-byte frame; the maximum is {wire.MAX_BODY}"
        )
    return body


def encode(message: Message, seq: int) -> bytes:
    """The wire bytes of ``message`` with sequence number ``seq``: ``00 COBS(body) 00``."""
    stuffed: bytes = cobs.encode(encode_body(message, seq))
    return b"\x00" + stuffed + b"\x00"


# -- decoding ------------------------------------------------------------------------------------


def decode_frame(chunk: bytes) -> Frame:
    """Decode the bytes between two delimiters; raise the ``FrameError`` that says what is wrong."""
    if len(chunk) > wire.MAX_ENCODED:
        raise FrameTooLarge(f"frame of {len(chunk)} bytes exceeds the maximum of {wire.MAX_ENCODED}")
    try:
        body = cobs.decode(chunk)
    except cobs.DecodeError as exc:
        raise CobsError(f"not a COBS frame ({exc})") from None
    size = len(body)
    if size < wire.MIN_BODY:
        raise FrameTooShort(f"frame body of {size} bytes is shorter than the minimum of {wire.MIN_BODY}")
    if size > wire.MAX_BODY:
        raise FrameTooLarge(f"frame body of {size} bytes exceeds the maximum of {wire.MAX_BODY}")
    (crc,) = _CRC.unpack_from(body, size - 4)
    if zlib.crc32(memoryview(body)[:-4]) != crc:
        raise CrcMismatch(f"CRC mismatch in a {size}-byte frame")
    kind, seq = _HEADER.unpack_from(body)
    parse = _PARSERS.get(kind)
    if parse is None:
        raise UnknownMessageType(f"unknown message type 0x{kind:02x}")
    try:
        payload = cbor2.loads(body[3:-4])
    except (cbor2.CBORDecodeError, ValueError, OverflowError) as exc:
        raise PayloadError(f"{_NAMES[kind]}: payload is not valid CBOR ({exc})") from None
    if type(payload) is not dict:
        raise PayloadError(f"{_NAMES[kind]}: payload must be a map, got {type(payload).__name__}")
    try:
        return Frame(seq, parse(payload))
    except (KeyError, TypeError) as exc:
        raise PayloadError(f"{_NAMES[kind]}: missing or mistyped field {exc}") from None


def _uint(value: object, name: str, limit: int = 0xFFFFFFFF) -> int:
    if type(value) is not int or not 0 <= value <= limit:
        raise PayloadError(f"{name} must be an unsigned integer <= {limit}, got {value!r}")
    return value


def _text(value: object, name: str, limit: int = wire.MAX_TEXT) -> str:
    if type(value) is not str or len(value) > limit:
        raise PayloadError(f"{name} must be text of at most {limit} characters, got {value!r:.80}")
    return value


def _number(value: object, name: str) -> float:
    kind = type(value)
    if kind is float:
        if not math.isfinite(value):  # type: ignore[arg-type]
            raise PayloadError(f"{name} must be finite, got {value!r}")
        return value  # type: ignore[return-value]
    if kind is int:
        return value  # type: ignore[return-value]
    raise PayloadError(f"{name} must be a number, got {value!r:.80}")


def _hello(p: dict[Any, Any]) -> Hello:
    board_id = _text(p[0], "board_id", wire.MAX_BOARD_ID)
    if not board_id:
        raise PayloadError("board_id must not be empty")
    raw = p[3]
    if type(raw) is not list or len(raw) > wire.MAX_SENSORS:
        raise PayloadError(f"sensors must be a list of at most {wire.MAX_SENSORS} [quantity, unit] pairs")
    sensors = []
    for i, item in enumerate(raw):
        if type(item) is not list or len(item) != 2:
            raise PayloadError(f"sensor {i} must be a [quantity, unit] pair")
        quantity = _text(item[0], f"sensor {i} quantity", wire.MAX_NAME)
        if not _QUANTITY.fullmatch(quantity):
            raise PayloadError(f"sensor {i} quantity {quantity!r} must match [a-z][a-z0-9_]*")
        sensors.append(Sensor(quantity, _text(item[1], f"sensor {i} unit", wire.MAX_NAME)))
    return Hello(board_id, _text(p[1], "firmware", wire.MAX_NAME), _uint(p[2], "protocol"), tuple(sensors))


def _hello_request(p: dict[Any, Any]) -> HelloRequest:
    return HelloRequest(_uint(p[0], "protocol"))


def _reading(p: dict[Any, Any]) -> Reading:
    return Reading(_uint(p[0], "sensor", 255), _number(p[1], "value"))


def _readings(p: dict[Any, Any]) -> Readings:
    raw = p[0]
    if type(raw) is not list or not 0 < len(raw) <= wire.MAX_BATCH:
        raise PayloadError(f"entries must be a list of 1 to {wire.MAX_BATCH} [sensor, value, age_ms]")
    entries = []
    for item in raw:
        if type(item) is not list or len(item) != 3:
            raise PayloadError(f"entry {item!r:.40} must be [sensor, value, age_ms]")
        sensor, value, age = item
        if type(sensor) is not int or not 0 <= sensor <= 255:
            _uint(sensor, "entry sensor", 255)
        if type(value) is not int and (type(value) is not float or not math.isfinite(value)):
            _number(value, "entry value")
        if type(age) is not int or not 0 <= age <= 0xFFFFFFFF:
            _uint(age, "entry age_ms")
        entries.append((sensor, value, age))
    return Readings(tuple(entries))


def _command(p: dict[Any, Any]) -> Command:
    name = _text(p[0], "command name", wire.MAX_NAME)
    arg = p.get(1)
    if arg is not None and type(arg) not in (int, str, float):
        raise PayloadError(f"command argument must be a number or text, got {arg!r:.40}")
    if type(arg) is str:
        _text(arg, "command argument")
    elif arg is not None:
        _number(arg, "command argument")
    return Command(name, arg)


def _ack(p: dict[Any, Any]) -> Ack:
    return Ack(_uint(p[0], "seq", 0xFFFF), _uint(p[1], "status", 255), _text(p.get(2, ""), "detail"))


def _log(p: dict[Any, Any]) -> Log:
    return Log(_uint(p[0], "level", 3), _text(p[1], "text"))


def _error(p: dict[Any, Any]) -> Error:
    ref = p.get(2)
    return Error(
        _uint(p[0], "code", 255),
        _text(p[1], "text"),
        None if ref is None else _uint(ref, "ref", 0xFFFF),
    )


_PARSERS: dict[int, Any] = {
    wire.HELLO: _hello,
    wire.HELLO_REQUEST: _hello_request,
    wire.READING: _reading,
    wire.READINGS: _readings,
    wire.COMMAND: _command,
    wire.ACK: _ack,
    wire.LOG: _log,
    wire.ERROR: _error,
}
_NAMES = {
    wire.HELLO: "HELLO",
    wire.HELLO_REQUEST: "HELLO_REQUEST",
    wire.READING: "READING",
    wire.READINGS: "READINGS",
    wire.COMMAND: "COMMAND",
    wire.ACK: "ACK",
    wire.LOG: "LOG",
    wire.ERROR: "ERROR",
}


class FrameDecoder:
    """Streaming decoder: ``feed`` bytes as they arrive, then take events with ``next_event``.

    Bytes between two delimiters that are not a valid frame become a ``Dropped`` event; more than
    ``MAX_ENCODED`` bytes without a delimiter are discarded up to the next delimiter (one ``Dropped``
    with ``FrameTooLarge``). Nothing raised while decoding ever escapes.
    """

    __slots__ = ("_buffer", "_discarding", "_events")

    def __init__(self) -> None:
        self._buffer = b""
        self._discarding = 0
        self._events: deque[Event] = deque()

    def feed(self, data: bytes) -> None:
        """Take the next bytes from the wire."""
        if not data:
            return
        parts = (self._buffer + data).split(b"\x00")
        tail = parts.pop()
        events = self._events
        first = True
        for chunk in parts:
            if self._discarding and first:
                events.append(self._oversize(self._discarding + len(chunk)))
                self._discarding = 0
                first = False
                continue
            first = False
            if chunk:
                try:
                    events.append(decode_frame(chunk))
                except FrameError as exc:
                    events.append(Dropped(exc, len(chunk)))
        if self._discarding and first:
            self._discarding += len(tail)
            tail = b""
        elif len(tail) > wire.MAX_ENCODED:
            self._discarding = len(tail)
            tail = b""
        self._buffer = tail

    @staticmethod
    def _oversize(size: int) -> Dropped:
        error = FrameTooLarge(
            f"{size} bytes without a delimiter exceed the maximum frame of {wire.MAX_ENCODED}"
        )
        return Dropped(error, size)

    def next_event(self) -> Event | _NeedData:
        """The next decoded event, or ``NEED_DATA`` until more bytes arrive."""
        if self._events:
            return self._events.popleft()
        return NEED_DATA

    def events(self, data: bytes = b"") -> list[Event]:
        """Feed ``data`` and return every event it completed."""
        self.feed(data)
        taken = list(self._events)
        self._events.clear()
        return taken

    @property
    def pending(self) -> int:
        """Bytes held while waiting for the rest of a frame."""
        return len(self._buffer) + self._discarding

    def reset(self) -> None:
        """Forget partial input (after reconnecting to the port)."""
        self._buffer = b""
        self._discarding = 0
        self._events.clear()
