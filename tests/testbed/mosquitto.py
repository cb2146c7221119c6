"""A real Mosquitto on a loopback port, for every test area and benchmark that talks MQTT."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.testbed.wait import wait_until

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def accepts(port: int) -> bool:
    """Something accepts TCP connections on loopback ``port``."""
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Mosquitto:
    """A private, anonymous Mosquitto that may be stopped and started again.

    ``extra_conf`` lines are appended to the config; a caller may also rewrite ``conf`` before ``start``.
    With a ``persistence`` folder it keeps retained messages and sessions there across a restart.
    Its output goes to ``mosquitto.log`` in ``folder`` (a pipe nobody reads would fill up and stall it).
    Used as a context manager it runs for the ``with`` block.
    """

    def __init__(self, folder: Path, *, extra_conf: str = "", persistence: Path | None = None) -> None:
        self.port = free_port()
        self.conf = folder / "mosquitto.conf"
        stored = (
            f"persistence true\npersistence_location {persistence}/\n"
            if persistence
            else "persistence false\n"
        )
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n{stored}{extra_conf}")
        self.log = folder / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it and wait (10 s at most) until it accepts connections; raise with its output if not."""
        with self.log.open("ab") as out:
            proc = self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=out, stderr=out)
        try:
            wait_until(
                lambda: proc.poll() is not None or accepts(self.port), "mosquitto to listen", 10, every=0.02
            )
        except AssertionError:
            self.stop()
            raise
        if proc.poll() is not None:
            self.proc = None
            raise RuntimeError(f"mosquitto exited: {self.log.read_text(errors='replace')}")

    def stop(self) -> None:
        """Stop it the way a service manager does (SIGTERM, so it saves its persistence); safe twice."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
