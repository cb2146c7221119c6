"""A real Mosquitto on a loopback port, shared by every test area that talks MQTT."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

MOSQUITTO = "/usr/sbin/mosquitto"


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
    """A private Mosquitto (anonymous, no persistence) that a test may stop and start again.

    ``extra_conf`` lines are appended to the config; a test may also rewrite ``conf`` before ``start``.
    """

    def __init__(self, folder: Path, *, extra_conf: str = "") -> None:
        self.port = free_port()
        self.conf = folder / "mosquitto.conf"
        # Its log goes to a file: a pipe nobody reads fills after a few hundred connections and then
        # blocks the broker on its next log line.
        self.log = folder / "mosquitto.log"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n{extra_conf}"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it and wait (10 s at most) until it accepts connections; raise with its output if not."""
        with self.log.open("ab") as log:
            proc = self.proc = subprocess.Popen(
                [MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=log
            )
        deadline = time.monotonic() + 10
        while not accepts(self.port):
            if proc.poll() is not None:
                self.proc = None
                raise RuntimeError(f"mosquitto exited: {self.log.read_text(errors='replace')}")
            if time.monotonic() > deadline:
                raise RuntimeError("mosquitto did not start listening within 10 s")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop it; safe to call twice."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
