"""The firmware bridge: a small framed protocol that hobbyist boards speak over serial. No I/O here.

``codec`` turns messages into frames and bytes into events; ``text`` parses the plain line mode;
``session`` is the host's view of one board (identification, sequence gaps, counters). PROTOCOL.md
is the specification a firmware author implements.
"""

from firmware_bridge.codec import NEED_DATA, FrameDecoder, decode_frame, encode, encode_body
from firmware_bridge.errors import (
    CobsError,
    CrcMismatch,
    FrameError,
    FrameTooLarge,
    FrameTooShort,
    PayloadError,
    TextLineError,
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
    TextComment,
    TextValues,
)
from firmware_bridge.session import HostSession, VersionRefused
from firmware_bridge.text import TextDecoder, parse_line
from firmware_bridge.wire import PROTOCOL_VERSION

__all__ = [
    "NEED_DATA",
    "PROTOCOL_VERSION",
    "Ack",
    "CobsError",
    "Command",
    "CrcMismatch",
    "Dropped",
    "Error",
    "Frame",
    "FrameDecoder",
    "FrameError",
    "FrameTooLarge",
    "FrameTooShort",
    "Hello",
    "HelloRequest",
    "HostSession",
    "Log",
    "Message",
    "PayloadError",
    "Reading",
    "Readings",
    "Sensor",
    "TextComment",
    "TextDecoder",
    "TextLineError",
    "TextValues",
    "UnknownMessageType",
    "VersionRefused",
    "decode_frame",
    "encode",
    "encode_body",
    "parse_line",
]
