"""Swapping the hub's config file atomically: ``X.new`` → fsync → rename over ``X``, the old one kept.

The previous file is kept as ``X.prev`` for a rollback.

A power cut at any point leaves either the old or the new file in place, never a torn one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import msgspec
import tomli_w

from agent.config import Config


def render(config: Config, *, version: int) -> str:
    """``config`` as TOML text, headed by the fleet version it came from."""
    body = tomli_w.dumps(_without_none(msgspec.to_builtins(config)))
    return f"# Written by a fleet config push: version {version}. The previous file is kept as .prev.\n{body}"


def sibling(path: Path, suffix: str) -> Path:
    """``hearth.toml`` → ``hearth.toml.new`` / ``hearth.toml.prev``."""
    return path.with_name(path.name + suffix)


def read(path: Path) -> str:
    """The config file's text ("" if it cannot be read)."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


def install(path: Path, text: str) -> None:
    """Replace the file at ``path`` with ``text`` atomically, keeping the current one as ``.prev``."""
    new = sibling(path, ".new")
    _write_synced(new, text.encode("utf-8"), mode=_mode(path))
    if path.exists():
        _write_synced(sibling(path, ".prev.new"), path.read_bytes(), mode=_mode(path))
        os.replace(sibling(path, ".prev.new"), sibling(path, ".prev"))
    os.replace(new, path)
    _sync_dir(path.parent)


def restore_previous(path: Path) -> None:
    """Put ``.prev`` back in place of ``path`` (rolling back an ``install``)."""
    os.replace(sibling(path, ".prev"), path)
    _sync_dir(path.parent)


def _mode(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        return 0o600


def _write_synced(path: Path, data: bytes, *, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)  # exactly the old file's mode, whatever the process umask
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _without_none(value: Any) -> Any:
    """TOML has no null: leave unset optional sections out."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value
