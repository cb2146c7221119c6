"""The hex examples in PROTOCOL.md decode as the document says."""

from __future__ import annotations

import re
from pathlib import Path

from firmware_bridge import Frame, FrameDecoder, HostSession, wire

DOC = (Path(__file__).resolve().parents[2] / "firmware_bridge" / "PROTOCOL.md").read_text(encoding="utf-8")


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
