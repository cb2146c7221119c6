"""``hearth board``: find serial boards, watch their frames, emulate one, install the MicroPython firmware."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from agent.errors import AgentError, SourceError

if TYPE_CHECKING:
    from firmware_bridge.emulator import BoardEmulator

FIRMWARE_DIR = Path(__file__).resolve().parent.parent.parent / "firmware_bridge" / "firmware" / "micropython"


@click.group()
def board() -> None:
    """Serial boards speaking the firmware bridge protocol."""


@board.command("list")
def list_ports() -> None:
    """List serial ports with USB ids, common boards named, and their stable paths.

    Example: hearth board list
    """
    from rich.console import Console
    from rich.table import Table
    from serial.tools import list_ports as lp

    from agent.sources.serial.boards import board_name

    stable: dict[str, str] = {}
    by_id = Path("/dev/serial/by-id")
    if by_id.is_dir():
        for link in by_id.iterdir():
            stable[os.path.realpath(link)] = str(link)
    table = Table(title="Serial ports")
    for column in ("port", "usb id", "board", "serial number", "stable path (use this in the config)"):
        table.add_column(column)
    ports = sorted(lp.comports(), key=lambda p: p.device)
    for port in ports:
        usb = f"{port.vid:04x}:{port.pid:04x}" if port.vid is not None and port.pid is not None else ""
        name = board_name(port.vid, port.pid) or (port.description if port.description != "n/a" else "")
        table.add_row(
            port.device, usb, name, port.serial_number or "", stable.get(os.path.realpath(port.device), "")
        )
    console = Console()
    if not ports:
        console.print("no serial ports found")
        return
    console.print(table)


@board.command()
@click.argument("port")
@click.option("--baud", type=int, default=115_200, show_default=True, help="Baud rate.")
@click.option(
    "--text", "text_mode", is_flag=True, help="The board prints text lines (temp=21.5), not frames."
)
@click.option("--count", type=click.IntRange(min=1), default=None, help="Stop after this many events.")
@click.option(
    "--duration", type=click.FloatRange(min=0.1), default=None, help="Stop after this many seconds."
)
def monitor(port: str, baud: int, text_mode: bool, count: int | None, duration: float | None) -> None:
    """Show the frames (or text lines) a board on PORT sends, decoded, as they arrive.

    Example: hearth board monitor /dev/serial/by-id/usb-Arduino_Uno_8573-if00
    """
    import serial

    from firmware_bridge import FrameDecoder, HelloRequest, TextDecoder, encode

    try:
        link = serial.Serial(port, baud, timeout=0.2)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise SourceError(
            f"cannot open serial port {port}: {exc}", hint="list ports with: hearth board list"
        ) from exc
    shown = 0
    deadline = time.monotonic() + duration if duration else None
    frames = FrameDecoder()
    lines = TextDecoder()
    with link:
        if not text_mode:
            link.write(encode(HelloRequest(1), 0))
        while (count is None or shown < count) and (deadline is None or time.monotonic() < deadline):
            try:
                data = link.read(4096)
            except serial.SerialException as exc:
                raise SourceError(f"port {port} lost: {exc}") from exc
            events = lines.events(data) if text_mode else frames.events(data)
            for event in events:
                click.echo(_describe(event))
                shown += 1
                if count is not None and shown >= count:
                    break


def _describe(event: object) -> str:
    from firmware_bridge import Dropped, Frame, TextComment, TextValues

    if isinstance(event, TextValues):
        return "  ".join(
            f"{name}={value:g}{' ' + unit if unit else ''}" for name, unit, value in event.values
        )
    if isinstance(event, TextComment):
        return f"# {event.text}"
    if isinstance(event, Frame):
        message = event.message
        fields = " ".join(f"{name}={getattr(message, name)!r}" for name in message.__slots__)
        return f"seq={event.seq:<5} {type(message).__name__.upper():<13} {fields}"
    if isinstance(event, Dropped):
        return f"dropped {event.size} bytes: {type(event.error).__name__}: {event.error}"
    return repr(event)


@board.command()
@click.option(
    "--data", default="builtin:climate.csv", show_default=True, help="CSV to replay (quantity[unit] header)."
)
@click.option(
    "--rate", type=click.FloatRange(min=0.1, max=1000), default=2.0, show_default=True, help="Rows/s."
)
@click.option(
    "--batch", type=click.IntRange(min=1, max=32), default=1, show_default=True, help="Rows per READINGS."
)
@click.option("--board-id", default="emu-0001", show_default=True, help="The id the board announces.")
@click.option("--text", "text_mode", is_flag=True, help="Print text lines instead of frames.")
@click.option(
    "--link", type=click.Path(dir_okay=False, path_type=Path), help="Keep a stable symlink to the pty here."
)
@click.option("--protocol", type=int, default=1, show_default=True, help="Protocol version to announce.")
@click.option("--garbage-every", type=float, default=0, help="Inject boot noise every N seconds.")
@click.option("--corrupt-every", type=float, default=0, help="Corrupt a frame's CRC every N seconds.")
@click.option("--drop-every", type=float, default=0, help="Drop a frame (sequence gap) every N seconds.")
@click.option("--unplug-every", type=float, default=0, help="Unplug for a second every N seconds.")
@click.option("--duration", type=float, default=None, help="Stop after N seconds (default: until Ctrl-C).")
def emulate(  # noqa: PLR0917 - one parameter per click option
    data: str,
    rate: float,
    batch: int,
    board_id: str,
    text_mode: bool,
    link: Path | None,
    protocol: int,
    garbage_every: float,
    corrupt_every: float,
    drop_every: float,
    unplug_every: float,
    duration: float | None,
) -> None:
    """Emulate a flashed board on a pseudo-terminal; prints its path, runs until Ctrl-C or SIGTERM.

    Example: hearth board emulate --rate 5 --link /tmp/board --corrupt-every 10
    """
    from agent.aio import run_until_stopped
    from firmware_bridge.emulator import BoardEmulator

    emulator = BoardEmulator.from_csv(
        data,
        rate=rate,
        batch=batch,
        board_id=board_id,
        text=text_mode,
        link=link.resolve() if link else None,
        protocol=protocol,
    )
    faults: list[tuple[float, Callable[[], None]]] = [
        (garbage_every, emulator.inject_garbage),
        (corrupt_every, emulator.corrupt_next),
        (drop_every, emulator.drop_next),
    ]
    run_until_stopped(_emulate(emulator, faults, unplug_every, duration))
    click.echo(
        f"sent {emulator.frames_sent} frames ({emulator.readings_sent} readings); injected: "
        f"{emulator.garbage} garbage, {emulator.corrupted} corrupted, {emulator.dropped} dropped, "
        f"{emulator.plugged - 1} replugs; {len(emulator.commands)} commands"
    )


async def _emulate(
    emulator: BoardEmulator,
    faults: list[tuple[float, Callable[[], None]]],
    unplug_every: float,
    duration: float | None,
) -> None:
    async def every(period: float, action: Callable[[], None]) -> None:
        while True:
            await asyncio.sleep(period)
            if emulator.streaming:  # faults hit a live link, not the wait for a host
                action()

    async def unplugging() -> None:
        while True:
            await asyncio.sleep(unplug_every)
            emulator.unplug()
            click.echo("unplugged", err=True)
            await asyncio.sleep(1.0)
            emulator.replug()
            click.echo(f"replugged on {emulator.tty_path}", err=True)

    async with emulator:
        where = f"{emulator.path} -> {emulator.tty_path}" if emulator.link else emulator.path
        click.echo(f"board {emulator.board_id} on {where} (Ctrl-C to stop)")
        tasks = [asyncio.create_task(every(period, action)) for period, action in faults if period > 0]
        if unplug_every > 0:
            tasks.append(asyncio.create_task(unplugging(), name="unplug"))
        try:
            if duration is None:
                await asyncio.Event().wait()
            else:
                await asyncio.sleep(duration)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


@board.command()
@click.option("--port", "-p", required=True, help="The board's serial port.")
@click.option("--no-main", is_flag=True, help="Copy only the hearth_board library, not the example main.py.")
def install(port: str, no_main: bool) -> None:
    """Copy the MicroPython firmware (hearth_board.py and the example main.py) to a board with mpremote.

    A board already running the example main.py takes Ctrl-C only in the first two seconds after a
    reset: reset it, then run this command at once.

    Example: hearth board install --port /dev/ttyACM0
    """
    mpremote = shutil.which("mpremote")
    if mpremote is None:
        raise AgentError("mpremote is not installed", hint="install it with: pip install mpremote")
    files = ["hearth_board.py"] if no_main else ["hearth_board.py", "main.py"]
    command = [mpremote, "connect", port]
    for name in files:
        command += ["fs", "cp", str(FIRMWARE_DIR / name), f":{name}", "+"]
    command += ["reset"]
    click.echo(f"copying {', '.join(files)} to the board on {port}")
    result = subprocess.run(command, check=False, capture_output=True, text=True)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise AgentError(
            f"mpremote could not install the firmware on {port}: {detail[-1] if detail else 'no output'}",
            hint="is MicroPython flashed on the board, and is no other program using the port?",
        )
    click.echo("installed; the board restarts and announces itself (watch with: hearth board monitor PORT)")


@board.command()
@click.option("--port", "-p", default=None, help="The board's serial port (not needed with --build-only).")
@click.option("--example", default="SensorToggle", show_default=True, help="The library's example sketch.")
@click.option("--board", "board_id", default="uno", show_default=True, help="AVR board (boards.txt name).")
@click.option("--build-only", is_flag=True, help="Build and show the sizes; upload nothing.")
@click.option(
    "--build-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the build here (the .elf and .hex); a temporary folder otherwise.",
)
def flash(port: str | None, example: str, board_id: str, build_only: bool, build_dir: Path | None) -> None:
    """Build an example sketch of the Arduino library for an AVR board and upload it with avrdude.

    Builds with the Arduino AVR core installed on this machine (Debian: arduino-core-avr, gcc-avr,
    avr-libc), with the core's own compiler flags, then writes it through the board's bootloader.

    Example: hearth board flash --port /dev/serial/by-id/usb-Arduino_Uno_8573-if00
    """
    import tempfile

    from agent.sources.serial import arduino

    if port is None and not build_only:
        raise click.UsageError("give the board's port with --port (or --build-only to only build)")
    sketch = arduino.example_sketch(example)
    with contextlib.ExitStack() as stack:
        where = build_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hearth-avr-")))
        click.echo(f"building {example} for {board_id}")
        firmware = arduino.build(sketch, where, board=board_id)
        click.echo(f"{example}: {firmware.summary()}")
        if port is None:
            return
        click.echo(f"uploading to {port} with avrdude")
        arduino.upload(firmware, port, board=board_id)
    click.echo("uploaded; the board restarts and announces itself (watch with: hearth board monitor PORT)")
