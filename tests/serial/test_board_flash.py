"""``hearth board flash``: build the Uno example with the Arduino AVR core, upload it with avrdude.

The upload runs the real avrdude against a pty whose other end answers as the Uno's bootloader does
(the STK500v1 subset optiboot implements). The core's own optiboot cannot take its place: in simavr
1.6 it does not get in sync with avrdude, and after it hands over the watchdog keeps resetting the chip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from agent.cli import cli
from agent.sources.serial import arduino

OK, INSYNC = b"\x10", b"\x14"
CRC_EOP = 0x20


class FakeOptiboot:
    """The bootloader's side of avrdude's ``arduino`` programmer on a pty: keeps what avrdude writes."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.port = os.ttyname(self.slave)
        self.flash = bytearray(b"\xff" * 0x7E00)
        self._address = 0
        self._thread = threading.Thread(target=self._serve, daemon=True, name="fake-optiboot")

    def _read(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = os.read(self.master, count - len(data))
            if not chunk:
                raise OSError("closed")
            data += chunk
        return data

    def _answer(self, body: bytes = b"") -> None:
        os.write(self.master, INSYNC + body + OK)

    def _serve(self) -> None:
        parameters = {0x80: 2, 0x81: 4, 0x82: 4}  # hardware version, firmware major and minor (optiboot 4.4)
        try:
            while True:
                command = self._read(1)[0]
                if command == 0x41:  # GET_PARAMETER
                    self._answer(bytes([parameters.get(self._read(2)[0], 3)]))
                elif command == 0x42:  # SET_DEVICE
                    self._read(21)
                    self._answer()
                elif command == 0x45:  # SET_DEVICE_EXT
                    self._read(6)
                    self._answer()
                elif command == 0x55:  # LOAD_ADDRESS, in words
                    low, high, _ = self._read(3)
                    self._address = (low | high << 8) * 2
                    self._answer()
                elif command == 0x56:  # UNIVERSAL
                    self._read(5)
                    self._answer(b"\x00")
                elif command == 0x64:  # PROG_PAGE
                    high, low, _ = self._read(3)
                    size = high << 8 | low
                    self.flash[self._address : self._address + size] = self._read(size)
                    self._read(1)
                    self._answer()
                elif command == 0x74:  # READ_PAGE
                    high, low, _, _ = self._read(4)
                    self._answer(bytes(self.flash[self._address : self._address + (high << 8 | low)]))
                elif command == 0x75:  # READ_SIGN
                    self._read(1)
                    self._answer(b"\x1e\x95\x0f")  # ATmega328P
                else:  # GET_SYNC, ENTER/LEAVE_PROGMODE and the rest: just the end of the command
                    self._read(1)
                    self._answer()
        except OSError:
            return

    def __enter__(self) -> FakeOptiboot:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.slave)
        os.close(self.master)
        self._thread.join(5)


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("avr-gcc") is None or not (arduino.CORE_DIR / "platform.txt").is_file():
        pytest.skip("the AVR tool chain is not installed (scripts/system-deps installs it)")
    return tmp_path_factory.mktemp("flash-build")


@pytest.fixture
def optiboot() -> Iterator[FakeOptiboot]:
    with FakeOptiboot() as board:
        yield board


def test_build_only_shows_what_the_uno_has_left(build_dir: Path) -> None:
    result = CliRunner().invoke(cli, ["board", "flash", "--build-only", "--build-dir", str(build_dir)])
    assert result.exit_code == 0, result.output
    assert "SensorToggle: " in result.output
    assert "of 32256), " in result.output
    assert "of 2048), " in result.output
    assert (build_dir / "SensorToggle.hex").is_file()


def test_flash_uploads_the_example_with_avrdude(build_dir: Path, optiboot: FakeOptiboot) -> None:
    if shutil.which("avrdude") is None:
        pytest.skip("avrdude is not installed (scripts/system-deps installs it)")
    result = CliRunner().invoke(
        cli, ["board", "flash", "--port", optiboot.port, "--build-dir", str(build_dir)]
    )
    assert result.exit_code == 0, result.output
    assert "uploaded" in result.output
    image = subprocess.run(
        ["avr-objcopy", "-I", "ihex", "-O", "binary", str(build_dir / "SensorToggle.hex"), "/dev/stdout"],
        capture_output=True,
        check=True,
    ).stdout
    assert len(image) > 1000
    assert bytes(optiboot.flash[: len(image)]) == image


def test_flash_without_avrdude_is_a_clear_error(
    build_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    result = CliRunner().invoke(
        cli, ["board", "flash", "--port", "/dev/ttyACM0", "--build-dir", str(build_dir)]
    )
    assert result.exit_code == 1
    assert "avrdude is not installed" in result.output
    assert "apt-get install" in result.output
    assert "Traceback" not in result.output


def test_flash_without_the_arduino_core_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(arduino, "CORE_DIR", tmp_path)
    result = CliRunner().invoke(cli, ["board", "flash", "--build-only"])
    assert result.exit_code == 1
    assert f"no Arduino AVR core in {tmp_path}" in result.output
    assert "arduino-core-avr" in result.output
    assert "Traceback" not in result.output


def test_flash_needs_a_port_or_build_only() -> None:
    result = CliRunner().invoke(cli, ["board", "flash"])
    assert result.exit_code == 2
    assert "--port" in result.output


def test_flash_names_the_examples() -> None:
    result = CliRunner().invoke(cli, ["board", "flash", "--example", "Blink", "--build-only"])
    assert result.exit_code == 1
    assert "no example sketch named 'Blink'" in result.output
    assert "SensorToggle" in result.output
