"""Wire constants of the firmware bridge protocol (see PROTOCOL.md); tests restate them as literals."""

from __future__ import annotations

from typing import Final

PROTOCOL_VERSION: Final = 1
DELIMITER: Final = b"\x00"

# A frame body is type (1) + sequence (2, little-endian) + CBOR payload + CRC-32 (4, little-endian).
HEADER_SIZE: Final = 3
CRC_SIZE: Final = 4
MIN_BODY: Final = HEADER_SIZE + 1 + CRC_SIZE
MAX_BODY: Final = 512
# COBS adds one byte per 254 bytes of body, plus one.
MAX_ENCODED: Final = MAX_BODY + MAX_BODY // 254 + 1
SEQ_MODULO: Final = 1 << 16

# Message types.
HELLO: Final = 0x01
HELLO_REQUEST: Final = 0x02
READING: Final = 0x03
READINGS: Final = 0x04
COMMAND: Final = 0x05
ACK: Final = 0x06
LOG: Final = 0x07
ERROR: Final = 0x08

# Error codes, carried by ERROR messages and by a non-zero ACK status.
ERR_UNSUPPORTED_VERSION: Final = 1
ERR_UNKNOWN_COMMAND: Final = 2
ERR_BAD_ARGUMENT: Final = 3
ERR_BAD_FRAME: Final = 4
ERR_BUSY: Final = 5

# Limits a decoder enforces on payload contents.
MAX_SENSORS: Final = 32
MAX_BATCH: Final = 64
MAX_TEXT: Final = 200
MAX_NAME: Final = 32
MAX_BOARD_ID: Final = 64

# Text line mode.
MAX_LINE: Final = 256
