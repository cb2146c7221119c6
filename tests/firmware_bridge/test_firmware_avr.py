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
import os
import re
import shutil
import signal
import struct
import subprocess
import tty
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from agent.config.schema import SerialSourceConfig
from agent.errors import BoardCommandError
from agent.pipeline.recorder import Recorder
from agent.pipeline.sink import Sink
from agent.sources.serial import SerialSource
from agent.sources.serial.arduino import CORE_DIR, Firmware, build, example_sketch
from agent.store.readings import ReadingsStore, open_readings
from firmware_bridge import Command, FrameDecoder, HelloRequest, encode
from firmware_bridge.codec import Frame

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
    """A simulated Uno on a pty, the hub's serial source on the port, and what the chip reported."""

    source: SerialSource
    sink: Sink
    store: ReadingsStore
    recorder: Recorder
    master: int
    slave: int
    process: asyncio.subprocess.Process | None = None
    led: list[int] = field(default_factory=list)
    stack_min: int | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def until(self, predicate: Callable[[], bool]) -> None:
        """Wait (at most 10 s) until ``predicate()`` holds, checked on every read and simulator report."""
        async with asyncio.timeout(10):
            while not predicate():
                waiters = {
                    asyncio.ensure_future(self.source.wait_for(predicate)),
                    asyncio.ensure_future(self._changed.wait()),
                }
                try:
                    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for waiter in waiters:
                        waiter.cancel()

    async def stop(self) -> int:
        """Stop the chip; return the lowest stack pointer it reached."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(self.process.wait(), 10)
        await self.until(lambda: self.stack_min is not None)
        assert self.stack_min is not None
        await self.recorder.flush()
        return self.stack_min

    async def watch(self) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            line = raw.decode().split()
            if line[:1] == ["led"]:
                self.led.append(int(line[1]))
            elif line[:1] == ["stack_min"]:
                self.stack_min = int(line[1], 16)
            self._changed.set()
            self._changed = asyncio.Event()


async def _host_request(master: int) -> None:
    decoder = FrameDecoder()
    while True:
        data = await asyncio.to_thread(os.read, master, 4096)
        if any(isinstance(e, Frame) and isinstance(e.message, HelloRequest) for e in decoder.events(data)):
            return


@contextlib.asynccontextmanager
async def running(simulator: Path, firmware: Firmware, tmp_path: Path) -> AsyncIterator[Uno]:
    """Plug the simulated Uno in: the host opens the port, the board resets and starts the sketch."""
    master, slave = os.openpty()
    tty.setraw(slave)
    store = open_readings(tmp_path / "data")
    recorder = Recorder(store, flush_interval=0.05)
    source = SerialSource(
        SerialSourceConfig(
            name="uno",
            port=os.ttyname(slave),
            handshake_timeout="5s",
            command_timeout="500ms",
            command_retries=2,
        )
    )
    sink = recorder.sink(source.name, source.kind, source.overflow)
    uno = Uno(source, sink, store, recorder, master, slave)
    tasks = [
        asyncio.create_task(recorder.run(), name="recorder"),
        asyncio.create_task(source.run(sink), name="uno"),
    ]
    try:
        # The port's open resets the chip; its bootloader eats the host's one HELLO_REQUEST.
        await asyncio.wait_for(_host_request(master), 10)
        uno.process = await asyncio.create_subprocess_exec(
            str(simulator),
            str(firmware.elf),
            str(master),
            str(TMP36_MILLIVOLTS),
            pass_fds=[master],
            stdout=asyncio.subprocess.PIPE,
        )
        tasks.append(asyncio.create_task(uno.watch(), name="simulator-output"))
        yield uno
    finally:
        if uno.process is not None and uno.process.returncode is None:
            uno.process.kill()
            await uno.process.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await recorder.close()
        store.close()
        os.close(master)
        os.close(slave)


def stored(store: ReadingsStore, stream: str) -> list[float]:
    """The values of ``stream`` in the store, oldest first."""
    query = (
        "SELECT r.value FROM readings r JOIN streams s ON s.id = r.stream_id WHERE s.name = ? ORDER BY r.key"
    )
    return [value for (value,) in store.conn.execute(query, (stream,))]


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
        source, sink = uno.source, uno.sink
        # HELLO identifies the board although its bootloader ate the HELLO_REQUEST, and it streams.
        await asyncio.wait_for(source.connected.wait(), 10)
        assert source.board is not None
        assert (source.board.board_id, [s.quantity for s in source.board.sensors]) == (
            "uno-tmp36-1",
            ["temperature", "raw"],
        )
        await uno.until(lambda: sink.accepted >= 2)

        # Line noise both ways: boot text towards the host, garbage towards the board.
        os.write(uno.master, b"\xff\xfeboot noise\x00\x13\x37")
        os.write(uno.slave, b"junk\x00\x05\x01\x02junk")
        ack = await source.send_command("toggle")
        assert (ack.status, ack.detail) == (0, "on")
        await uno.until(lambda: uno.led[-1:] == [1])

        # A command the host sends twice (its ACK lost) runs once: the second answer says "repeat".
        frame = encode(Command("toggle"), 900)
        os.write(uno.slave, frame + frame)
        ack = await source.send_command("toggle")
        assert (ack.status, ack.detail) == (0, "on")  # off once by seq 900, on again: not twice
        await uno.until(lambda: len(uno.led) >= 4)
        assert uno.led == [0, 1, 0, 1]  # pinMode, toggle, seq 900 once, toggle

        # 0.1 leaves the host as a binary64 float: the board rounds it, then refuses it as not 0 or 1.
        with pytest.raises(BoardCommandError, match=r"set takes 0 or 1 \(status 3\)"):
            await source.send_command("set", 0.1)
        await uno.until(lambda: sink.accepted >= 6)
        assert source.stats["resyncs"] >= 1
        free = report("SensorToggle", sensor_toggle, await uno.stop())
        raw = stored(uno.store, "uno.raw")
        temperatures = stored(uno.store, "uno.temperature")
    assert raw
    assert set(raw) == {153.0}
    assert temperatures == [pytest.approx(24.78, abs=0.01)] * len(temperatures)
    assert free >= STACK_MARGIN


async def test_codec_on_a_simulated_uno(simulator: Path, codec_check: Firmware, tmp_path: Path) -> None:
    async with running(simulator, codec_check, tmp_path) as uno:
        source = uno.source
        await asyncio.wait_for(source.connected.wait(), 10)
        assert source.board is not None
        assert len(source.board.sensors) == 4
        for count, value in enumerate((2.0**-20 * (1 + 2.0**-7), 2.0**-24, 0.1), start=1):
            await source.send_command("echo", value)
            await uno.until(lambda count=count: uno.sink.accepted == count)
        free = report("CodecCheck", codec_check, await uno.stop())
        values = stored(uno.store, "uno.temperature")
    # Sent back exactly (a half float built with a 16-bit shift came back as 2^-20), and the binary64
    # 0.1 rounded to the nearest float.
    assert values == [2.0**-20 * (1 + 2.0**-7), 2.0**-24, struct.unpack(">f", struct.pack(">f", 0.1))[0]]
    assert free >= STACK_MARGIN
