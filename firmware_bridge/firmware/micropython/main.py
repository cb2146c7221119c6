"""Example board: reports the RP2040/ESP32 temperature sensor and toggles the LED on command.

Copy hearth_board.py and this file to the board (``hearth board install --port PORT``).

Frames travel over the USB REPL port, where byte 0x03 normally means Ctrl-C. After a grace period
of two seconds from reset (time for ``mpremote`` to interrupt and take over), Ctrl-C is turned off
so a frame can never stop the program. To get the REPL back, send the ``repl`` command, or reset the
board and run ``hearth board install`` (or ``mpremote``) within two seconds.
"""

import select
import sys
import time

import machine
import micropython
import ubinascii
from hearth_board import ERR_BAD_ARGUMENT, ERR_UNKNOWN_COMMAND, Board

led = machine.Pin("LED", machine.Pin.OUT) if sys.platform == "rp2" else machine.Pin(2, machine.Pin.OUT)
sensor = machine.ADC(4) if sys.platform == "rp2" else None


def temperature():
    """Degrees Celsius from the RP2040's internal sensor (or the ESP32's, where it has one)."""
    if sensor is not None:
        volts = sensor.read_u16() * 3.3 / 65535
        return 27 - (volts - 0.706) / 0.001721
    import esp32

    return (esp32.raw_temperature() - 32) / 1.8


state = {"running": True}


def on_command(name, arg):
    if name == "repl":
        state["running"] = False
        return 0, "leaving for the REPL"
    if name == "toggle":
        led.value(not led.value())
    elif name == "set" and arg in (0, 1):
        led.value(arg)
    elif name == "set":
        return ERR_BAD_ARGUMENT, "set takes 0 or 1"
    else:
        return ERR_UNKNOWN_COMMAND, "unknown command"
    return 0, "on" if led.value() else "off"


def main():
    out = sys.stdout.buffer
    board = Board(
        out.write,
        "mpy-" + ubinascii.hexlify(machine.unique_id()).decode(),
        "1.0.0",
        [("temperature", "°C")],
        on_command,
    )
    poll = select.poll()
    poll.register(sys.stdin, select.POLLIN)
    time.sleep(2)
    micropython.kbd_intr(-1)
    board.begin()
    last = time.ticks_ms()
    while state["running"]:
        if poll.poll(50):
            board.feed(sys.stdin.buffer.read(1))
        # Stream from boot, HELLO_REQUEST or not: after a reset the host may already be listening.
        if time.ticks_diff(time.ticks_ms(), last) >= 1000:
            last = time.ticks_ms()
            board.send_reading(0, temperature())
    micropython.kbd_intr(3)


main()
