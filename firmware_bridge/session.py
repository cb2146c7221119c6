"""The host's side of a link to one board, sans-I/O: identification, sequence tracking, statistics.

``HostSession.receive(data)`` returns the messages worth acting on; replies the host owes the
board (an ERROR for an unsupported protocol version) collect in ``data_to_send()``. ``stats``
counts what a user would want to see per board.
"""

from __future__ import annotations

from collections.abc import Iterator

from firmware_bridge import wire
from firmware_bridge.codec import FrameDecoder, encode
from firmware_bridge.errors import CrcMismatch, FrameTooLarge, PayloadError, UnknownMessageType
from firmware_bridge.messages import Command, Dropped, Error, Frame, Hello, HelloRequest, Message, Scalar

STAT_KEYS = (
    "frames_ok",
    "crc_errors",
    "frames_lost",
    "resyncs",
    "oversize",
    "bad_frames",
    "unidentified",
    "version_refused",
)


class VersionRefused(Exception):  # noqa: N818 - an event, not an error raised to callers
    """The board announced a protocol version this host does not speak (an ERROR was queued for it)."""

    def __init__(self, hello: Hello) -> None:
        super().__init__(
            f"board {hello.board_id} speaks protocol {hello.protocol}, not {wire.PROTOCOL_VERSION}"
        )
        self.hello = hello


class HostSession:
    """One board's link as the host sees it; feed it bytes, act on the messages it returns."""

    def __init__(self) -> None:
        self.decoder = FrameDecoder()
        self.hello: Hello | None = None
        self.stats: dict[str, int] = dict.fromkeys(STAT_KEYS, 0)
        self._expected: int | None = None
        self._next_seq = 0
        self._outgoing = bytearray()

    def connect(self) -> bytes:
        """Start over on a fresh connection; return the HELLO_REQUEST to write."""
        self.decoder.reset()
        self.hello = None
        self._expected = None
        return encode(HelloRequest(wire.PROTOCOL_VERSION), self._take_seq())

    def _take_seq(self) -> int:
        seq = self._next_seq
        self._next_seq = (seq + 1) % wire.SEQ_MODULO
        return seq

    def command(self, name: str, arg: Scalar | None = None) -> tuple[int, bytes]:
        """A COMMAND frame with a fresh sequence number: ``(seq, wire bytes)``."""
        seq = self._take_seq()
        return seq, encode(Command(name, arg), seq)

    def data_to_send(self) -> bytes:
        """Replies owed to the board since the last call."""
        out = bytes(self._outgoing)
        self._outgoing.clear()
        return out

    def receive(self, data: bytes) -> list[Message | VersionRefused]:
        """Decode ``data``; return the messages of an identified board (and any version refusal)."""
        return list(self._receive(data))

    def _receive(self, data: bytes) -> Iterator[Message | VersionRefused]:
        stats = self.stats
        for event in self.decoder.events(data):
            if type(event) is Dropped:
                self._count_drop(event)
                continue
            assert type(event) is Frame
            message = event.message
            stats["frames_ok"] += 1
            if type(message) is Hello:
                self._expected = (event.seq + 1) % wire.SEQ_MODULO
                if message.protocol != wire.PROTOCOL_VERSION:
                    stats["version_refused"] += 1
                    self.hello = None
                    refusal = Error(
                        wire.ERR_UNSUPPORTED_VERSION,
                        f"protocol {message.protocol} is not supported; "
                        f"this host speaks {wire.PROTOCOL_VERSION}",
                        event.seq,
                    )
                    self._outgoing += encode(refusal, self._take_seq())
                    yield VersionRefused(message)
                    continue
                self.hello = message
                yield message
                continue
            self._track(event.seq)
            if self.hello is None:
                stats["unidentified"] += 1
                continue
            yield message

    def _track(self, seq: int) -> None:
        expected = self._expected
        self._expected = (seq + 1) % wire.SEQ_MODULO
        if expected is None or seq == expected:
            return
        gap = (seq - expected) % wire.SEQ_MODULO
        if gap < wire.SEQ_MODULO // 2:
            self.stats["frames_lost"] += gap

    def _count_drop(self, event: Dropped) -> None:
        error = event.error
        if isinstance(error, CrcMismatch):
            self.stats["crc_errors"] += 1
        elif isinstance(error, FrameTooLarge):
            self.stats["oversize"] += 1
            self.stats["resyncs"] += 1
        elif isinstance(error, PayloadError | UnknownMessageType):
            self.stats["bad_frames"] += 1
        else:
            self.stats["resyncs"] += 1
