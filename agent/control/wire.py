"""The control socket's messages: one JSON line asks, one JSON line answers (sans-I/O)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec

from agent.errors import AgentError, See

SOCKET_FILE = "control.sock"
MAX_LINE = 1 << 20
# sun_path holds 108 bytes with its NUL; longer paths are reached through the folder's descriptor.
_MAX_SUN_PATH = 100


class Request(msgspec.Struct, frozen=True):
    """What the owner asks: an action name and its keyword arguments."""

    action: str
    params: dict[str, Any] = {}


class Reply(msgspec.Struct, frozen=True, omit_defaults=True):
    """The result, or the error with its hint and exit code."""

    ok: bool
    result: Any = None
    error: str | None = None
    hint: str | None = None
    field: str | None = None  # the owner's input the error is about, named by the command (AgentError)
    example: str | None = None
    see: See | None = None  # where the advice sends the owner, shown by the command (AgentError)
    exit_code: int = 1


class HubError(AgentError):
    """An error the running hub reported for an owner action (its words and exit code as it said them)."""


def encode(message: Request | Reply) -> bytes:
    """One line of JSON."""
    return msgspec.json.encode(message) + b"\n"


def decode_request(line: bytes) -> Request:
    """The request in ``line``; ``AgentError`` when it is not one."""
    try:
        return msgspec.json.decode(line, type=Request)
    except msgspec.DecodeError as exc:
        raise AgentError(f"not a control request: {exc}") from exc


def result_of(line: bytes) -> Any:
    """The result carried by a reply line; raises ``HubError`` for an error reply."""
    try:
        reply = msgspec.json.decode(line, type=Reply)
    except msgspec.DecodeError as exc:
        raise AgentError(f"the hub sent an unreadable reply: {exc}") from exc
    if not reply.ok:
        error = HubError(
            reply.error or "the hub refused",
            hint=reply.hint,
            field=reply.field,
            example=reply.example,
            see=reply.see,
        )
        error.exit_code = reply.exit_code
        raise error
    return reply.result


def error_reply(exc: AgentError) -> Reply:
    """The reply that carries ``exc`` to the command that asked."""
    return Reply(
        ok=False,
        error=exc.message,
        hint=exc.hint,
        field=exc.field,
        example=exc.example,
        see=exc.see,
        exit_code=exc.exit_code,
    )


def socket_path(data_dir: Path) -> Path:
    """Where the hub using ``data_dir`` listens."""
    return data_dir / SOCKET_FILE


@contextmanager
def reachable(path: Path) -> Iterator[str]:
    """A name for ``path`` that fits a socket address (``/proc/self/fd/N/...`` when it is too long)."""
    if len(os.fsencode(path)) <= _MAX_SUN_PATH:
        yield str(path)
        return
    fd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)
