"""One board's link as the hub sees it, sans-I/O: bytes in → readings out, commands → bytes out.

Every transport that carries the firmware bridge protocol (the serial source, BLE's Nordic UART
Service) runs its board through a ``BoardLink``, so a board is identified, counted, named and timed
the same way on each; the transport only moves bytes. Two modes:

- ``framed``: ``firmware_bridge.HostSession`` underneath (the HELLO handshake, sequence numbers and
  lost frames, resynchronisation, a counted drop for every bad frame). A board's values are mapped
  through its HELLO to streams ``<device>.<quantity>`` with HELLO's units. Replies owed to the board
  and COMMAND frames (``send``) collect for ``data_to_send``.
- ``text``: ``temp=21.5 hum=40`` lines; a stream is declared the first time it appears. Text mode is
  one way: it takes no commands.

``receive(data, now)`` returns what the transport acts on: the streams to declare (before the
readings), the readings, stamped so that each stream's timestamps increase, the ACKs for the commands
waiting on them, and the HELLO or the version refusal when one came. The board's LOG lines and ERRORs
are logged and counted here. ``stats`` survive reconnects.
"""

from __future__ import annotations

import logging
from typing import Literal, NamedTuple

from agent.errors import BoardCommandError
from agent.readings import Reading, StreamInfo, next_stamp
from agent.sources.bridge_readings import board_streams, sensor_values
from firmware_bridge import (
    Ack,
    Dropped,
    Error,
    Hello,
    HostSession,
    Log,
    Readings,
    TextComment,
    TextDecoder,
    TextValues,
    VersionRefused,
)
from firmware_bridge import Reading as BoardReading
from firmware_bridge.messages import Scalar
from firmware_bridge.session import STAT_KEYS

log = logging.getLogger(__name__)

Mode = Literal["framed", "text"]

FRAMED_STATS = (*STAT_KEYS, "unknown_sensor", "board_errors", "commands_acked", "commands_refused")
"""Per-board counters of a framed link: the session's, values on sensors HELLO did not announce, the
board's ERRORs, and the ACKs it sent (status 0, or a refusal)."""
TEXT_STATS = ("text_lines", "text_errors")
"""Per-board counters of a text link: lines read, lines skipped because they did not parse."""

_LOG_LEVELS = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR)


class Received(NamedTuple):
    """What one chunk of bytes from the board brought."""

    declared: list[StreamInfo]  # streams to declare before the readings (new, or their unit changed)
    readings: list[Reading]
    acks: list[Ack]
    hello: Hello | None  # the latest HELLO in the chunk
    refused: VersionRefused | None  # the board speaks a protocol this hub does not (an ERROR is owed)


class BoardLink:
    """One board's link; feed it the bytes the board sent, write what ``data_to_send`` returns."""

    def __init__(self, device: str, mode: Mode = "framed") -> None:
        self.device = device
        self.mode: Mode = mode
        self.session = HostSession()
        self.board: Hello | None = None
        """The latest HELLO the board sent, kept across connections (None before the first)."""
        self.stats: dict[str, int] = dict.fromkeys(FRAMED_STATS if mode == "framed" else TEXT_STATS, 0)
        self._text = TextDecoder()
        self._hello: Hello | None = None  # in force on this connection, as the chunk is walked
        self._sensor_streams: list[str] = []  # the stream of each sensor index of ``_hello``
        self._declared: dict[str, StreamInfo] = {}  # declared on this connection
        self._last: dict[str, float] = {}  # each stream's latest timestamp, across connections
        self._outgoing = bytearray()

    @property
    def hello(self) -> Hello | None:
        """The board's HELLO on this connection (None until it has identified itself)."""
        return self._hello

    @property
    def streams(self) -> dict[str, StreamInfo]:
        """The streams declared on this connection, by name (each reading's stream is among them)."""
        return self._declared

    @property
    def identified(self) -> bool:
        """True once the board said who it is on this connection (at once in text mode)."""
        return self.mode == "text" or self._hello is not None

    def connect(self) -> bytes:
        """Start over on a fresh connection; return the bytes to write to the board first."""
        # Replies and commands owed on the last connection are about frames long gone; a command's
        # sender has been told that link was lost, so it must not run later on this one.
        self._outgoing.clear()
        self._declared.clear()  # the sink may be a new one: declare every stream again
        self._hello = None
        if self.mode == "text":
            self._text.reset()
            return b""
        self.session.data_to_send()
        return self.session.connect()

    def command(self, name: str, arg: Scalar | None = None) -> tuple[int, bytes]:
        """A COMMAND frame with a fresh sequence number: ``(seq, wire bytes)``; ``send`` queues it.

        Raises ``BoardCommandError`` in text mode, and before the board identified itself.
        """
        if self.mode == "text":
            raise BoardCommandError(f"board {self.device} is in text mode, which takes no commands")
        if self._hello is None:
            raise BoardCommandError(f"board {self.device} is not connected")
        return self.session.command(name, arg)

    def send(self, frame: bytes) -> None:
        """Queue ``frame`` (a COMMAND, or its resend with the same seq) for ``data_to_send``."""
        self._outgoing += frame

    def data_to_send(self) -> bytes:
        """Replies and commands owed to the board since the last call."""
        out = self.session.data_to_send() + self._outgoing
        self._outgoing.clear()
        return out

    def receive(self, data: bytes, now: float) -> Received:
        """Decode ``data``, which arrived at ``now`` (wall clock); return what it brought."""
        if self.mode == "text":
            return self._receive_text(data, now)
        declared: list[StreamInfo] = []
        readings: list[Reading] = []
        acks: list[Ack] = []
        hello: Hello | None = None
        refused: VersionRefused | None = None
        stats = self.stats
        last = self._last
        for message in self.session.receive(data):
            if isinstance(message, Readings | BoardReading):
                board = self._hello
                if board is None:
                    continue
                values, unknown = sensor_values(board, message)
                stats["unknown_sensor"] += unknown
                streams = self._sensor_streams
                for value in values:
                    stream = streams[value.sensor]
                    ts = next_stamp(now - value.age, last.get(stream, 0.0))
                    last[stream] = ts
                    readings.append(Reading(stream, ts, value.value))
            elif isinstance(message, Hello):
                hello = message
                self._identified(message, declared)
            elif isinstance(message, Ack):
                stats["commands_refused" if message.status else "commands_acked"] += 1
                acks.append(message)
            elif isinstance(message, Log):
                log.log(_LOG_LEVELS[message.level], "board %s: %s", self.device, message.text)
            elif isinstance(message, Error):
                stats["board_errors"] += 1
                log.warning("board %s reports error %d: %s", self.device, message.code, message.text)
            elif isinstance(message, VersionRefused):
                refused = message
                self._hello = None
        stats.update(self.session.stats)
        return Received(declared, readings, acks, hello, refused)

    def _identified(self, hello: Hello, declared: list[StreamInfo]) -> None:
        self._hello = self.board = hello
        infos = board_streams(self.device, hello)
        self._sensor_streams = [info.name for info in infos]
        for info in infos:
            if self._declared.get(info.name) != info:
                self._declared[info.name] = info
                declared.append(info)

    def _receive_text(self, data: bytes, now: float) -> Received:
        declared: list[StreamInfo] = []
        readings: list[Reading] = []
        stats = self.stats
        last = self._last
        for event in self._text.events(data):
            if type(event) is TextValues:
                stats["text_lines"] += 1
                for quantity, unit, value in event.values:
                    stream = f"{self.device}.{quantity}"
                    if stream not in self._declared:
                        info = self._declared[stream] = StreamInfo.of(self.device, quantity, unit)
                        declared.append(info)
                    ts = next_stamp(now, last.get(stream, 0.0))
                    last[stream] = ts
                    readings.append(Reading(stream, ts, value))
            elif type(event) is TextComment:
                log.info("board %s: %s", self.device, event.text)
            elif type(event) is Dropped:
                stats["text_errors"] += 1
                log.debug("board %s: skipped a line: %s", self.device, event.error)
        return Received(declared, readings, [], None, None)
