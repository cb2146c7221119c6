"""Why a frame or a text line was rejected.

    FrameError              a received frame is not valid; the decoder skips it and counts it
    ├── FrameTooLarge       more than MAX_ENCODED bytes arrived without a delimiter (or body > MAX_BODY)
    ├── CobsError           the bytes between two delimiters are not valid COBS (line noise, boot text)
    ├── FrameTooShort       the body is shorter than header + one payload byte + CRC
    ├── CrcMismatch         the CRC-32 does not match: the frame was damaged in transit
    ├── UnknownMessageType  the type byte names no message of this protocol version
    └── PayloadError        the CBOR payload is malformed or does not have the message's shape
    TextLineError           a text-mode line cannot be parsed

All are ``ValueError`` subclasses; none ever escapes a streaming decoder, which turns them into
``Dropped`` events.
"""

from __future__ import annotations


class FrameError(ValueError):
    """A received frame is not valid."""


class FrameTooLarge(FrameError):  # noqa: N818 - named as PROTOCOL.md names it
    """A frame exceeds the protocol's maximum size."""


class CobsError(FrameError):
    """The bytes between two delimiters are not valid COBS."""


class FrameTooShort(FrameError):  # noqa: N818 - named as PROTOCOL.md names it
    """A frame body is too short to hold a header, a payload and a CRC."""


class CrcMismatch(FrameError):  # noqa: N818 - named as PROTOCOL.md names it
    """A frame's CRC does not match its contents."""


class UnknownMessageType(FrameError):  # noqa: N818 - named as PROTOCOL.md names it
    """A frame's type byte names no known message."""


class PayloadError(FrameError):
    """A frame's payload is not valid CBOR or does not have its message's shape."""


class TextLineError(ValueError):
    """A text-mode line cannot be parsed."""
