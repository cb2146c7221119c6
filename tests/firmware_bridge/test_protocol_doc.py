"""The hex examples in PROTOCOL.md decode as the document says."""

from __future__ import annotations

import re
from pathlib import Path

from firmware_bridge import Frame, FrameDecoder, HostSession, wire

DOC_DIR = Path(__file__).resolve().parents[2] / "firmware_bridge"
DOC = (DOC_DIR / "PROTOCOL.md").read_text(encoding="utf-8")


def test_every_wire_example_decodes() -> None:
    blocks = re.findall(r"wire:\s+((?:[0-9a-f]{2}[ \n]+)+)", DOC)
    assert len(blocks) == 6
    for block in blocks:
        events = FrameDecoder().events(bytes.fromhex(block.replace("\n", " ")))
        assert len(events) == 1
        assert isinstance(events[0], Frame), block


def test_constants_in_the_doc_match_the_code() -> None:
    assert f"| `PROTOCOL_VERSION` | `{wire.PROTOCOL_VERSION}` |" in DOC
    assert f"| `MAX_BODY` | `{wire.MAX_BODY}` |" in DOC
    assert f"| `MAX_ENCODED` | `{wire.MAX_ENCODED}` |" in DOC
    assert f"| `MIN_BODY` | `{wire.MIN_BODY}` |" in DOC
    assert set(HostSession().stats) >= {"crc_errors", "resyncs", "oversize", "bad_frames", "frames_lost"}


def test_board_buffer_sizes_in_the_doc_match_the_library() -> None:
    header = (DOC_DIR / "firmware" / "arduino" / "HearthBridge" / "src" / "HearthCodec.h").read_text("utf-8")
    sizes = dict(re.findall(r"#define (HEARTH_\w+) HEARTH_SMALL_DEFAULT\((\d+, \d+)\)", header))
    assert set(sizes) == {"HEARTH_RX_BUFFER", "HEARTH_TX_BODY", "HEARTH_TEXT_MAX"}
    avr_row = next(line for line in DOC.splitlines() if line.startswith("| 8-bit AVR"))
    arm_row = next(line for line in DOC.splitlines() if line.startswith("| 32-bit boards"))
    for name in ("HEARTH_RX_BUFFER", "HEARTH_TX_BODY", "HEARTH_TEXT_MAX"):
        small, full = sizes[name].split(", ")
        column = ["HEARTH_RX_BUFFER", "HEARTH_TX_BODY", "HEARTH_TEXT_MAX"].index(name) + 2
        assert avr_row.split("|")[column].strip().split(":")[0] == small, name
        assert arm_row.split("|")[column].strip() == full, name
