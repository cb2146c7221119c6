"""The MicroPython module and example on the official MicroPython, not CPython.

MicroPython's WebAssembly port is published on npm (``@micropython/micropython-webassembly-pyscript``)
and runs under Node.js. The first run installs the pinned release into ``.cache/`` in the
repository (git ignores it); later runs reuse it. ``micropython/run.mjs`` starts it with the board's
files in its root folder and, for the end-to-end test, a pty as the board's serial port.

This port's floats are doubles, like the unix port's; boards such as the rp2 and the esp32 use
single-precision floats, which no published MicroPython build for the host offers.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
from board_link import serial_link

from firmware_bridge import Command, HelloRequest, encode

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
FIRMWARE = ROOT / "firmware_bridge" / "firmware" / "micropython"
GOLDEN = ROOT / "firmware_bridge" / "golden" / "vectors.json"
VECTORS: dict[str, Any] = json.loads(GOLDEN.read_text("utf-8"))
PACKAGE = "@micropython/micropython-webassembly-pyscript"
VERSION = "1.27.0"
CACHE = ROOT / ".cache" / f"micropython-webassembly-{VERSION}"
BOARD_SENDS = {"hello", "reading", "readings", "ack", "log", "error"}
TYPES = {
    "hello": 1,
    "hello_request": 2,
    "reading": 3,
    "readings": 4,
    "command": 5,
    "ack": 6,
    "log": 7,
    "error": 8,
}


@pytest.fixture(scope="module")
def micropython() -> Path:
    """The port's ``micropython.mjs``, installed from npm into the cache on first use."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("Node.js and npm are needed to run MicroPython's WebAssembly port")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout
    if int(version.lstrip("v").split(".")[0]) < 18:
        pytest.skip(f"MicroPython's WebAssembly port needs Node.js 18 or later, not {version.strip()}")
    mjs = CACHE / "node_modules" / PACKAGE / "micropython.mjs"
    if not mjs.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [npm, "install", "--prefix", str(CACHE), "--no-audit", "--no-fund", f"{PACKAGE}@{VERSION}"],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        if result.returncode != 0 or not mjs.is_file():
            pytest.skip(f"cannot install {PACKAGE}@{VERSION} from npm: {result.stderr.strip()[-300:]}")
    return mjs


def run_on_micropython(micropython: Path, script: str, *files: Path) -> list[str]:
    result = subprocess.run(
        ["node", str(HERE / "micropython" / "run.mjs"), str(micropython), str(HERE / "micropython" / script)]
        + ["-1"]
        + [str(file) for file in files],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout.splitlines()


def _floats(value: dict[str, Any]) -> Any:
    if set(value) == {"f"}:
        return struct.unpack(">d", bytes.fromhex(value["f"]))[0]
    return value


Results = dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def golden_results(micropython: Path) -> Results:
    lines = run_on_micropython(micropython, "golden.py", FIRMWARE / "hearth_board.py", GOLDEN)
    results = [json.loads(line, object_hook=_floats) for line in lines]
    return {result["name"]: result for result in results}


def test_micropython_is_the_real_interpreter(micropython: Path, tmp_path: Path) -> None:
    script = tmp_path / "which.py"
    script.write_text("import sys\nprint(sys.implementation.name, sys.implementation.version[:2])\n")
    result = subprocess.run(
        ["node", str(HERE / "micropython" / "run.mjs"), str(micropython), str(script), "-1"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.split()[0] == "micropython"


@pytest.mark.parametrize("vector", VECTORS["valid"], ids=lambda v: v["name"])
def test_golden_vector_on_micropython(
    golden_results: dict[str, dict[str, Any]], vector: dict[str, Any]
) -> None:
    result = golden_results[vector["name"]]
    if vector["type"] in BOARD_SENDS:
        assert result["encoded"] == vector["wire"]
    (decoded,) = result["decoded"]
    assert (decoded["type"], decoded["seq"]) == (TYPES[vector["type"]], vector["seq"])
    payload = dict(decoded["payload"])
    f = vector["fields"]
    if vector["type"] == "command":
        assert (payload[0], payload.get(1)) == (f["name"], f["arg"])
    elif vector["type"] == "hello_request":
        assert payload[0] == f["protocol"]
    elif vector["type"] == "reading":
        assert (payload[0], payload[1]) == (f["sensor"], f["value"])


@pytest.mark.parametrize("vector", VECTORS["malformed"], ids=lambda v: v["name"])
def test_malformed_vector_on_micropython(
    golden_results: dict[str, dict[str, Any]], vector: dict[str, Any]
) -> None:
    # Every malformed frame is dropped with its error, never an exception that stops main.py.
    (decoded,) = golden_results[vector["name"]]["decoded"]
    board_checks = vector["layer"] == "frame" or vector["name"].startswith(
        ("command", "hello_request", "payload")
    )
    if board_checks:
        assert decoded == {"error": vector["error"]}
    else:
        assert "error" not in decoded  # a field the board does not act on, so does not check


async def test_example_main_talks_to_the_serial_source(micropython: Path, tmp_path: Path) -> None:
    async with serial_link(tmp_path, "pico") as link:
        # No reset on open here: the board finds the host's HELLO_REQUEST waiting when it starts.
        await link.until(lambda: link.source.stats["connects"] == 1)
        link_master = link.master
        os.set_blocking(link_master, False)  # run.mjs polls the line; Node cannot set this itself
        process = await asyncio.create_subprocess_exec(
            "node",
            str(HERE / "micropython" / "run.mjs"),
            str(micropython),
            str(HERE / "micropython" / "board.py"),
            str(link_master),
            str(FIRMWARE / "hearth_board.py"),
            str(FIRMWARE / "main.py"),
            pass_fds=[link_master],
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            source = link.source
            await asyncio.wait_for(source.connected.wait(), 10)
            assert source.board is not None
            assert source.board.board_id == "mpy-246f2801"
            await link.until(lambda: link.sink.accepted >= 1)

            link.write_to_board(b"boot noise\x00\x07junk\x00")
            link.write_to_host(b"\xfe\xffnoise\x00")
            ack = await source.send_command("toggle")
            assert (ack.status, ack.detail) == (0, "on")
            frame = encode(Command("toggle"), 901)
            link.write_to_board(frame + frame + encode(HelloRequest(1), 902))
            ack = await source.send_command("toggle")
            assert (ack.status, ack.detail) == (0, "on")  # seq 901 ran once: off, then on again
            ack = await source.send_command("repl")
            assert ack.detail == "leaving for the REPL"
            stdout, stderr = await asyncio.wait_for(process.communicate(), 10)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert process.returncode == 0, stderr.decode()
        assert stdout.decode().splitlines() == [
            "kbd_intr -1",
            "led 1",
            "led 0",
            "led 1",
            "kbd_intr 3",
            "main.py returned",
        ]
        assert source.stats["resyncs"] >= 1
        await link.recorder.flush()
        assert set(link.stored("pico.temperature")) == {45.0}
