"""``hearth board``: list, monitor an emulated board, emulate, install with mpremote."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from agent.cli import cli
from agent.sources.serial.boards import board_name
from tests.testbed.processes import stop, traced_env


def test_common_boards_are_named() -> None:
    assert board_name(0x2341, 0x0043) == "Arduino Uno"
    assert board_name(0x2E8A, 0x0005) == "Raspberry Pi Pico (MicroPython)"
    assert board_name(0x2341, 0x9999) == "Arduino board"
    assert board_name(0x1234, 0x5678) == ""
    assert board_name(None, None) == ""


def test_list_runs() -> None:
    result = CliRunner().invoke(cli, ["board", "list"])
    assert result.exit_code == 0, result.output


def test_emulate_and_monitor(tmp_path: Path) -> None:
    link = tmp_path / "board"
    command = [sys.executable, "-m", "agent", "board", "emulate", "--link", str(link), "--rate", "50"]
    command += ["--corrupt-every", "0.2", "--duration", "60"]
    emulator = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=traced_env()
    )
    try:
        assert emulator.stdout is not None
        first = emulator.stdout.readline()
        assert first.startswith(f"board emu-0001 on {link} -> /dev/pts/"), first
        result = CliRunner().invoke(cli, ["board", "monitor", str(link), "--count", "40", "--duration", "30"])
        assert result.exit_code == 0, result.output
        assert "HELLO         board_id='emu-0001'" in result.output
        assert "READING       sensor=0 value=19.26" in result.output
        assert "dropped" in result.output
        assert "CrcMismatch" in result.output
    finally:
        out = stop(emulator)
    assert emulator.returncode == 0
    assert "corrupted" in out


def test_monitor_missing_port_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["board", "monitor", str(tmp_path / "nope"), "--count", "1"])
    assert result.exit_code == 1
    assert "cannot open serial port" in result.output
    assert "Traceback" not in result.output


def test_install_without_mpremote_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    result = CliRunner().invoke(cli, ["board", "install", "--port", "/dev/ttyACM0"])
    assert result.exit_code == 1
    assert "mpremote is not installed" in result.output
    assert "pip install mpremote" in result.output


def test_install_copies_firmware_with_mpremote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record = tmp_path / "args"
    fake = tmp_path / "mpremote"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {record}\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    result = CliRunner().invoke(cli, ["board", "install", "--port", "/dev/ttyACM0"])
    assert result.exit_code == 0, result.output
    args = record.read_text().splitlines()
    assert args[:2] == ["connect", "/dev/ttyACM0"]
    copies = [(args[i + 1], args[i + 2]) for i, a in enumerate(args) if a == "cp"]
    assert [Path(src).name for src, _ in copies] == ["hearth_board.py", "main.py"]
    assert all(Path(src).is_file() for src, _ in copies)
    assert [dst for _, dst in copies] == [":hearth_board.py", ":main.py"]
    assert args[-1] == "reset"


def test_install_failure_names_the_port(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "mpremote"
    fake.write_text("#!/bin/sh\necho 'mpremote: failed to access /dev/ttyACM9' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    result = CliRunner().invoke(cli, ["board", "install", "--port", "/dev/ttyACM9", "--no-main"])
    assert result.exit_code == 1
    assert "could not install the firmware on /dev/ttyACM9: mpremote: failed to access" in result.output


def test_monitor_text_mode(tmp_path: Path) -> None:
    link = tmp_path / "board"
    command = [
        sys.executable,
        "-m",
        "agent",
        "board",
        "emulate",
        "--link",
        str(link),
        "--text",
        "--rate",
        "50",
    ]
    emulator = subprocess.Popen(
        [*command, "--duration", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=traced_env(),
    )
    try:
        assert emulator.stdout is not None
        assert emulator.stdout.readline().startswith("board emu-0001 on")
        result = CliRunner().invoke(cli, ["board", "monitor", str(link), "--text", "--count", "3"])
        assert result.exit_code == 0, result.output
        assert re.search(r"^temperature=[\d.]+ °C  humidity=[\d.]+ %$", result.output, re.MULTILINE)
    finally:
        stop(emulator)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_emulate_stops_on_a_signal_when_started_in_the_background(
    tmp_path: Path, sig: signal.Signals
) -> None:
    # A shell starts a background command (`hearth board emulate &` in a script) with SIGINT ignored.
    as_background = ["sh", "-c", 'trap "" INT; exec "$0" "$@"', sys.executable]
    command = [*as_background, "-m", "agent", "board", "emulate", "--link", str(tmp_path / "board")]
    emulator = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=traced_env()
    )
    assert emulator.stdout is not None
    assert emulator.stdout.readline().startswith("board emu-0001 on")
    out = stop(emulator, sig)
    assert emulator.returncode == 0
    assert out.startswith("sent "), out
