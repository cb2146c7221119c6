"""On MicroPython: run the example main.py as on an ESP32, its USB serial port being the host's pty.

The board's own modules (machine, esp32, select, micropython) are stand-ins; sys.stdin/sys.stdout
read and write the pty through the runner's `host` module; time is MicroPython's, except that the
two-second grace period after reset is skipped.
"""

import sys

sys.path.insert(0, "/")

import binascii
import time

import host


class Buffer:
    def read(self, n):
        return binascii.unhexlify(host.read(n))

    def write(self, data):
        host.write(binascii.hexlify(data).decode())
        return len(data)


class Stream:
    buffer = Buffer()


class Sys:
    platform = "esp32"
    stdin = Stream()
    stdout = Stream()
    path = sys.path
    modules = sys.modules


class Pin:
    OUT = 1

    def __init__(self, *args):
        self.level = 0

    def value(self, level=None):
        if level is not None:
            self.level = 1 if level else 0
            print("led", self.level)
        return self.level


class Machine:
    Pin = Pin
    ADC = None

    @staticmethod
    def unique_id():
        return b"\x24\x6f\x28\x01"


class Esp32:
    @staticmethod
    def raw_temperature():
        return 113  # °F: 45 °C


class Poll:
    def register(self, stream, mask):
        pass

    def poll(self, ms):
        return host.wait(ms)


class Select:
    POLLIN = 1

    @staticmethod
    def poll():
        return Poll()


class MicroPython:
    @staticmethod
    def kbd_intr(char):
        print("kbd_intr", char)


class Time:
    ticks_ms = time.ticks_ms
    ticks_diff = time.ticks_diff

    @staticmethod
    def sleep(seconds):
        pass


stand_ins = {"sys": Sys, "machine": Machine, "esp32": Esp32, "select": Select, "micropython": MicroPython}
sys.modules.update(stand_ins)
sys.modules["time"] = Time
sys.modules["ubinascii"] = binascii
exec(open("/main.py").read(), {"__name__": "__main__"})  # noqa: SIM115 - the board runs main.py as is
print("main.py returned")
