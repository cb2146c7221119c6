"""The Arduino library on a real ATmega328P: built with the Arduino AVR core, run in simavr.

Each sketch is built for the Uno (atmega328p, 16 MHz) with the core's own platform.txt recipe, then
runs in real time in simavr (``avr/simavr_uno.c``, compiled here against libsimavr) with UART0 on a
pty. The hub's own serial source opens the other end, as it opens a USB port. Opening an Uno's port
resets it, and its bootloader swallows what the host sent meanwhile: the tests play that part (the
host's HELLO_REQUEST is read and dropped before the chip starts), since optiboot does not run
usefully in simavr 1.6 (see the harness).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import signal
import struct
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from board_link import Link, serial_link

from agent.errors import BoardCommandError
from agent.sources.serial.arduino import CORE_DIR, Firmware, build, example_sketch
from firmware_bridge import Command, HelloRequest, encode

HERE = Path(__file__).resolve().parent
HARNESS = HERE / "avr" / "simavr_uno.c"
STACK_MARGIN = 256  # bytes of SRAM that must stay free below the deepest stack
TMP36_MILLIVOLTS = 748  # 24.8 °C on a TMP36: ADC reading 153 with the 5 V reference


def _missing_tools() -> list[str]:
    missing = [
        tool
        for tool in ("avr-gcc", "avr-g++", "avr-gcc-ar", "avr-objcopy", "avr-size", "avr-nm", "gcc")
        if shutil.which(tool) is None
    ]
    if not (CORE_DIR / "platform.txt").is_file():
        missing.append("arduino-core-avr")
    if not Path("/usr/include/simavr/sim_avr.h").is_file():
        missing.append("libsimavr-dev")
    return missing


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Path:
    missing = _missing_tools()
    if missing:
        pytest.skip(f"AVR tools not installed: {', '.join(missing)} (scripts/system-deps installs them)")
    binary = tmp_path_factory.mktemp("simavr") / "simavr_uno"
    flags = ["-O2", "-Wall", "-Wextra", "-Werror", "-I/usr/include/simavr"]
    subprocess.run(
        ["gcc", *flags, "-o", str(binary), str(HARNESS), "-lsimavr"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return binary


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory, simulator: Path) -> Path:
    return tmp_path_factory.mktemp("avr-build")


@pytest.fixture(scope="module")
def sensor_toggle(build_dir: Path) -> Firmware:
    return build(example_sketch("SensorToggle"), build_dir)


@pytest.fixture(scope="module")
def codec_check(build_dir: Path) -> Firmware:
    return build(HERE / "avr" / "CodecCheck" / "CodecCheck.ino", build_dir)


def bss_end(firmware: Firmware) -> int:
    """The first SRAM address above the globals: the stack must never grow below it."""
    symbols = subprocess.run(["avr-nm", str(firmware.elf)], capture_output=True, text=True, check=True).stdout
    (address,) = re.findall(r"^([0-9a-f]+) \w __bss_end$", symbols, re.MULTILINE)
    return int(address, 16) & 0xFFFF


@dataclass
class Uno:
    """A simulated Uno on a serial link, and what the chip reported (LED changes, stack low-water mark)."""

    link: Link
    process: asyncio.subprocess.Process
    led: list[int] = field(default_factory=list)
    stack_min: int | None = None

    async def stop(self) -> int:
        """Stop the chip; return the lowest stack pointer it reached."""
        self.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(self.process.wait(), 10)
        await self.link.until(lambda: self.stack_min is not None)
        assert self.stack_min is not None
        await self.link.recorder.flush()
        return self.stack_min

    async def watch(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            line = raw.decode().split()
            if line[:1] == ["led"]:
                self.led.append(int(line[1]))
            elif line[:1] == ["stack_min"]:
                self.stack_min = int(line[1], 16)
            self.link.notify()


@contextlib.asynccontextmanager
async def running(simulator: Path, firmware: Firmware, tmp_path: Path) -> AsyncIterator[Uno]:
    """Plug the simulated Uno in: the host opens the port, the board resets and starts the sketch."""
    async with serial_link(tmp_path, "uno") as link:
        # The port's open resets the chip; its bootloader eats the host's one HELLO_REQUEST.
        await link.host_request()
        process = await asyncio.create_subprocess_exec(
            str(simulator),
            str(firmware.elf),
            str(link.master),
            str(TMP36_MILLIVOLTS),
            pass_fds=[link.master],
            stdout=asyncio.subprocess.PIPE,
        )
        uno = Uno(link, process)
        watcher = asyncio.create_task(uno.watch(), name="simulator-output")
        try:
            yield uno
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)


def report(name: str, firmware: Firmware, stack_min: int) -> int:
    free = stack_min - bss_end(firmware)
    print(f"{name}: {firmware.summary()}; deepest stack leaves {free} bytes free")
    return free


def test_every_example_builds_for_the_uno_with_room_for_the_stack(build_dir: Path) -> None:
    examples = sorted(p.name for p in (example_sketch("SensorToggle").parents[1]).iterdir())
    for name in examples:
        firmware = build(example_sketch(name), build_dir / name)
        print(f"{name}: {firmware.summary()}")
        assert firmware.flash <= firmware.flash_max
        assert firmware.ram + STACK_MARGIN <= firmware.ram_max


async def test_sensor_toggle_on_a_simulated_uno(
    simulator: Path, sensor_toggle: Firmware, tmp_path: Path
) -> None:
    async with running(simulator, sensor_toggle, tmp_path) as uno:
        source, sink = uno.link.source, uno.link.sink
        # HELLO identifies the board although its bootloader ate the HELLO_REQUEST, and it streams.
        await asyncio.wait_for(source.connected.wait(), 10)
        assert source.board is not None
        assert (source.board.board_id, [s.quantity for s in source.board.sensors]) == (
            "uno-tmp36-1",
            ["temperature", "raw"],
        )
        await uno.link.until(lambda: sink.accepted >= 2)

        # Line noise both ways: boot text towards the host, garbage towards the board.
        uno.link.write_to_host(b"\xff\xfeboot noise\x00\x13\x37")
        uno.link.write_to_board(b"junk\x00\x05\x01\x02junk")
        ack = await source.send_command("toggle")
        assert (ack.status, ack.detail) == (0, "on")
        await uno.link.until(lambda: uno.led[-1:] == [1])

        # A command the host sends twice (its ACK lost) runs once: the second answer says "repeat".
        frame = encode(Command("toggle"), 900)
        uno.link.write_to_board(frame + frame + encode(HelloRequest(1), 901))
        ack = await source.send_command("toggle")
        assert (ack.status, ack.detail) == (0, "on")  # off once by seq 900, on again: not twice
        await uno.link.until(lambda: len(uno.led) >= 4)
        assert uno.led == [0, 1, 0, 1]  # pinMode, toggle, seq 900 once, toggle

        # 0.1 leaves the host as a binary64 float: the board rounds it, then refuses it as not 0 or 1.
        with pytest.raises(BoardCommandError, match=r"set takes 0 or 1 \(status 3\)"):
            await source.send_command("set", 0.1)
        await uno.link.until(lambda: sink.accepted >= 6)
        assert source.stats["resyncs"] >= 1
        free = report("SensorToggle", sensor_toggle, await uno.stop())
        raw = uno.link.stored("uno.raw")
        temperatures = uno.link.stored("uno.temperature")
    assert raw
    assert set(raw) == {153.0}
    assert temperatures == [pytest.approx(24.78, abs=0.01)] * len(temperatures)
    assert free >= STACK_MARGIN


async def test_codec_on_a_simulated_uno(simulator: Path, codec_check: Firmware, tmp_path: Path) -> None:
    async with running(simulator, codec_check, tmp_path) as uno:
        source = uno.link.source
        await asyncio.wait_for(source.connected.wait(), 10)
        assert source.board is not None
        assert len(source.board.sensors) == 4
        # A HELLO_REQUEST after boot: the deepest stack, HELLO with four sensors built inside poll().
        uno.link.write_to_board(encode(HelloRequest(1), 900))
        for count, value in enumerate((2.0**-20 * (1 + 2.0**-7), 2.0**-24, 0.1), start=1):
            await source.send_command("echo", value)
            await uno.link.until(lambda count=count: uno.link.sink.accepted == count)
        free = report("CodecCheck", codec_check, await uno.stop())
        values = uno.link.stored("uno.temperature")
    # Sent back exactly (a half float built with a 16-bit shift came back as 2^-20), and the binary64
    # 0.1 rounded to the nearest float.
    assert values == [2.0**-20 * (1 + 2.0**-7), 2.0**-24, struct.unpack(">f", struct.pack(">f", 0.1))[0]]
    assert free >= STACK_MARGIN
