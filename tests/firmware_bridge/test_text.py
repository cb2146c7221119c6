"""Text line mode: ``temp=21.5 hum=40``."""

from __future__ import annotations

import pytest

from firmware_bridge import Dropped, TextComment, TextDecoder, TextLineError, TextValues, parse_line


def test_simple_line() -> None:
    assert parse_line(b"temp=21.5 hum=40") == TextValues((("temp", "", 21.5), ("hum", "", 40.0)))


def test_units_commas_and_crlf() -> None:
    decoder = TextDecoder()
    events = decoder.events(b"temp[\xc2\xb0C]=21.5, hum[%]=40\r\n# booted\r\n\n")
    assert events == [TextValues((("temp", "°C", 21.5), ("hum", "%", 40.0))), TextComment("booted")]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        pytest.param(b"temp 21.5", "is not name=value", id="no-equals"),
        pytest.param(b"Temp=21.5", "is not name=value", id="upper-case-name"),
        pytest.param(b"temp=warm", "is not a number", id="not-a-number"),
        pytest.param(b"temp=inf", "is not a finite number", id="infinite"),
        pytest.param(b"temp=\xff", "not UTF-8", id="not-utf8"),
    ],
)
def test_exact_error_per_bad_line(line: bytes, message: str) -> None:
    with pytest.raises(TextLineError, match=message):
        parse_line(line)


def test_long_line_dropped_then_next_line_parses() -> None:
    decoder = TextDecoder()
    events = decoder.events(b"x" * 300) + decoder.events(b"x" * 10 + b"\ntemp=1\n")
    assert isinstance(events[0], Dropped)
    assert "longer than 256" in str(events[0].error)
    assert events[1] == TextValues((("temp", "", 1.0),))


def test_split_anywhere() -> None:
    data = b"temp=21.5 hum=40\nlight=3\n"
    for cut in range(len(data)):
        decoder = TextDecoder()
        assert decoder.events(data[:cut]) + decoder.events(data[cut:]) == [
            TextValues((("temp", "", 21.5), ("hum", "", 40.0))),
            TextValues((("light", "", 3.0),)),
        ]
