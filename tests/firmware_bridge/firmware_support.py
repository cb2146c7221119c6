"""What every reference firmware answers to the same host, for the C++ and MicroPython board tests."""

from __future__ import annotations

from firmware_bridge import Ack, Frame, Hello, Reading, Sensor


def answers_to_hello_request_and_commands(board_id: str) -> list[Frame]:
    """A board's frames for HELLO_REQUEST, ``toggle``, that ``toggle`` again, ``explode``, then one reading.

    It says hello on start and again when asked, acks a repeated command without acting on it twice, and
    refuses a command it does not know.
    """
    hello = Hello(board_id, "1.0.0", 1, (Sensor("temperature", "°C"),))
    return [
        Frame(0, hello),
        Frame(1, hello),
        Frame(2, Ack(1, 0, "on")),
        Frame(3, Ack(1, 0, "repeat")),
        Frame(4, Ack(2, 2, "unknown command")),
        Frame(5, Reading(0, 21.5)),
    ]
