"""The running hub's control socket: owner actions from the CLI, carried out by the hub's own writers.

A Unix socket in the data folder (0700), itself 0600, and only peers running as the hub's user or root
are served. One request per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sqlite3
import struct
from pathlib import Path

from agent.control import wire
from agent.control.owner import OwnerHub
from agent.errors import AgentError

log = logging.getLogger(__name__)


class ControlServer:
    """Serves owner actions on ``path`` until cancelled; the socket file is removed on the way out."""

    def __init__(self, hub: OwnerHub, path: Path) -> None:
        self.hub = hub
        self.path = path
        self.served = 0

    async def run(self) -> None:
        """Listen until cancelled (the caller holds the data folder's lock, so a leftover socket is stale)."""
        self.path.unlink(missing_ok=True)
        with wire.reachable(self.path) as address:
            server = await asyncio.start_unix_server(self._serve, path=address, limit=wire.MAX_LINE)
        try:
            self.path.chmod(0o600)
            async with server:
                await server.serve_forever()
        finally:
            self.path.unlink(missing_ok=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if not _trusted(writer):
                writer.write(wire.encode(wire.error_reply(AgentError("not the hub's owner"))))
                return
            try:
                line = await reader.readline()
            except (ValueError, asyncio.LimitOverrunError):
                return
            reply = await self._answer(line)
            writer.write(wire.encode(reply))
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, line: bytes) -> wire.Reply:
        # Imported with the first request: a hub nobody talks to does not carry the actions' modules.
        from agent.control.actions import perform, refused

        try:
            request = wire.decode_request(line)
            result = await perform(self.hub, request.action, request.params)
        except AgentError as exc:
            return wire.error_reply(exc)
        except sqlite3.OperationalError as exc:
            disk = refused(exc, Path(self.hub.config.hub.data_dir))
            if disk is None:
                log.exception("owner action failed")
                return wire.error_reply(AgentError(f"the hub failed to carry it out: {exc}"))
            return wire.error_reply(disk)
        except Exception as exc:
            log.exception("owner action failed")
            return wire.error_reply(AgentError(f"the hub failed to carry it out: {exc}"))
        self.served += 1
        return wire.Reply(ok=True, result=result)


def _trusted(writer: asyncio.StreamWriter) -> bool:
    """The peer runs as the hub's user or as root (the folder's 0700 already keeps others out)."""
    sock: socket.socket | None = writer.get_extra_info("socket")
    if sock is None:
        return False
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid in (0, os.getuid())
