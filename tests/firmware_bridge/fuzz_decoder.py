"""Coverage-guided fuzz harness for the firmware bridge decoders (atheris / libFuzzer).

Run: python tests/firmware_bridge/fuzz_decoder.py -max_total_time=60 [corpus_dir]
Any exception escaping the streaming decoders, or a frame that does not re-encode to itself, is a bug.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from firmware_bridge import Frame, FrameDecoder, HostSession, TextDecoder, encode
    from firmware_bridge.errors import FrameTooLarge


def test_one_input(data: bytes) -> None:
    """Feed ``data`` in two pieces to every decoder; check decoded frames survive a round trip."""
    if not data:
        return
    cut = data[0] % (len(data) + 1)
    decoder = FrameDecoder()
    events = decoder.events(data[1:cut]) + decoder.events(data[cut:])
    for event in events:
        if isinstance(event, Frame):
            try:
                again = encode(event.message, event.seq)
            except FrameTooLarge:
                continue
            assert FrameDecoder().events(again) == [event], event
    HostSession().receive(data)
    TextDecoder().events(data)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
