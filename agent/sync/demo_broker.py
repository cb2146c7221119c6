"""A broker for ``hearth demo`` that needs nothing installed: Mosquitto if present, else amqtt in-process."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class DemoBroker:
    """Where the demo's broker listens and which MQTT version to speak to it."""

    port: int
    protocol: str  # "auto" (Mosquitto: MQTT 5) or "3.1.1" (amqtt speaks 3.1.1 only)
    name: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _listening(port: int, limit: float = 10.0) -> None:
    async with asyncio.timeout(limit):
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            await writer.wait_closed()
            return


def _mosquitto() -> str | None:
    return shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )


# sh -c SCRIPT MOSQUITTO CONF: run the broker until standard input reaches its end, then stop it.
_TIED_TO_PARENT = 'trap "" INT; "$0" -c "$1" & broker=$!; read -r _; kill "$broker"; wait "$broker"'


def _write_conf(folder: str, port: int) -> Path:
    conf = Path(folder) / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    # Mosquitto reads its config as root and may then run as its own user.
    conf.chmod(0o644)
    Path(folder).chmod(0o755)
    return conf


@contextlib.asynccontextmanager
async def demo_broker() -> AsyncIterator[DemoBroker | None]:
    """Run a loopback broker for the demo's lifetime; None when neither Mosquitto nor amqtt is there."""
    port = _free_port()
    mosquitto = _mosquitto()
    if mosquitto:
        with tempfile.TemporaryDirectory(prefix="hearth-demo-broker-") as folder:
            conf = _write_conf(folder, port)
            # The broker runs under a shell that holds the read end of a pipe from this process and stops
            # the broker when the pipe closes: at the end of the demo, and also when the demo crashes or
            # is killed with SIGKILL, which no cleanup code here would see.
            proc = await asyncio.create_subprocess_exec(
                "/bin/sh",
                "-c",
                _TIED_TO_PARENT,
                mosquitto,
                str(conf),
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                await _listening(port)
                yield DemoBroker(port, "auto", "Mosquitto")
            finally:
                assert proc.stdin is not None
                proc.stdin.close()
                try:
                    async with asyncio.timeout(10):
                        await proc.wait()
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
        return
    try:
        from amqtt.broker import Broker
    except ImportError:
        yield None
        return
    config: dict[str, Any] = {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }
    broker = Broker(config)
    await broker.start()
    try:
        yield DemoBroker(port, "3.1.1", "amqtt (in-process)")
    finally:
        await broker.shutdown()
