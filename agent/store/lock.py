"""One owner per data folder: the running hub, or else one command at a time.

The hub holds an exclusive ``flock`` on ``<data_dir>/hearth.lock`` for as long as it has the data files
open; a command that finds no hub to talk to takes the same lock before it opens the files itself, and
a starting hub waits for it. ``flock`` (not ``fcntl``/POSIX locks) on a file of its own: POSIX locks
belong to the process and vanish when *any* descriptor of the file closes, which is exactly what SQLite
must never see happen to its own files.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from pathlib import Path
from types import TracebackType

from agent.errors import ReadOnlyDataError, StoreError
from agent.store.sqlite import ensure_private_dir, read_only_problem

LOCK_FILE = "hearth.lock"


class DataLock:
    """An exclusive lock on a data folder; a context manager, and ``release()`` is safe to call twice."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; True when taken."""
        if self._fd is not None:
            return True
        ensure_private_dir(self.path.parent)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            if exc.errno == errno.EROFS:
                raise ReadOnlyDataError(read_only_problem(self.path.parent)) from exc
            raise StoreError(f"cannot open {self.path}: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return False
            raise StoreError(f"cannot lock {self.path}: {exc.strerror}") from exc
        self._fd = fd
        return True

    def acquire(self, wait: float, *, who: str = "another hearth process") -> None:
        """Take the lock, waiting up to ``wait`` seconds; ``StoreError`` if it stays taken."""
        deadline = time.monotonic() + wait
        while not self.try_acquire():
            if time.monotonic() >= deadline:
                raise StoreError(
                    f"the data folder {self.path.parent} is in use by {who}",
                    hint="wait for that command to finish, or stop the other hub using this data_dir",
                )
            time.sleep(0.05)

    def release(self) -> None:
        """Give the lock up (closing the lock file, never a data file)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def __enter__(self) -> DataLock:
        return self

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.release()


def read_only(data_dir: Path) -> bool:
    """True when ``data_dir`` is on a read-only mount (what the kernel makes of a failing SD card)."""
    try:
        if os.statvfs(data_dir).f_flag & os.ST_RDONLY:
            return True
        # Opening the lock file for writing changes nothing, and names the error (os.access does not).
        fd = os.open(data_dir / LOCK_FILE, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as exc:
        return exc.errno == errno.EROFS
    os.close(fd)
    return False
