"""A power-cut rig in the manner of Jepsen's LazyFS: a FUSE filesystem on which only synced writes survive.

The filesystem keeps its own page cache. Programs see every write at once; the backing folder (the
"disk") gets a file's data only when the file is fsynced (``fsync``/``fdatasync``), and a directory's
entries (create, unlink, rename, mkdir) only when the directory is fsynced. A *power cut* throws the
cache away: after the remount a file holds its data as of its last sync, optionally with a torn prefix
(cut at a seeded random byte) of the last write that was not synced, and a rename whose directory was
not synced is undone. The kernel's periodic writeback is off unless asked for (``writeback``): that is
the worst case a program must survive.

It counts what programs write, the 4 KiB pages that reach the disk and the fsync calls, per file
name, for SD-card wear figures.

Run in its own process, ``python -m tests.testbed.lazyfs BACKING MOUNTPOINT CONTROL [WRITEBACK_S]``;
``LazyMount`` does that and speaks to it on the ``CONTROL`` unix socket (``stats``, ``cut``).
File and directory locks stay in the kernel (the filesystem implements neither), as on a local disk.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from tests.testbed.wait import wait_until

PAGE = 4096
META = "meta.json"
BLOBS = "blobs"
ROOT_INO = 1


@dataclass
class Node:
    """A file, directory or socket as programs see it now, with what of it is dirty."""

    ino: int
    mode: int
    data: bytearray = field(default_factory=bytearray)
    entries: dict[str, int] = field(default_factory=dict)
    dirty: set[int] = field(default_factory=set)  # pages changed since the last sync
    size_changed: bool = False
    uid: int = 0
    gid: int = 0
    mtime_ns: int = field(default_factory=time.time_ns)

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)


@dataclass
class Counters:
    """What programs wrote and what reached the disk."""

    write_calls: int = 0
    write_bytes: int = 0
    fsync_calls: int = 0
    fsyncdir_calls: int = 0
    pages_to_disk: int = 0
    # Per file name: [fsync calls, pages that reached the disk].
    files: dict[str, list[int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "write_calls": self.write_calls,
            "write_bytes": self.write_bytes,
            "fsync_calls": self.fsync_calls,
            "fsyncdir_calls": self.fsyncdir_calls,
            "pages_to_disk": self.pages_to_disk,
            "bytes_to_disk": self.pages_to_disk * PAGE,
            "files": {name: {"fsyncs": f, "pages": p} for name, (f, p) in sorted(self.files.items())},
        }


class LazyModel:
    """The filesystem without FUSE: the view, the durable state in ``backing``, sync and cut.

    Every method takes the one lock; FUSE calls them from several threads.
    """

    def __init__(self, backing: Path) -> None:
        self.backing = backing
        self.lock = threading.Lock()
        self.counters = Counters()
        self.frozen = False
        # The kernel remounted the disk read-only (after write errors): reads work, writes fail with EROFS.
        self.readonly = False
        # A cut armed to come just before the n-th change (write, sync, create, rename, unlink...) of a
        # path under a prefix: (prefix, n), so that a test can cut at each step of a short sequence.
        self.armed: tuple[str, int] | None = None
        # The last write not yet synced: (ino, offset, bytes), for a torn write at the cut.
        self.last_unsynced: tuple[int, int, bytes] | None = None
        (backing / BLOBS).mkdir(parents=True, exist_ok=True)
        meta_path = backing / META
        # What is on the disk: per inode its mode, owner, size (files) and entries (directories).
        self.durable: dict[int, dict[str, Any]] = {}
        if meta_path.exists():
            meta = json.loads(meta_path.read_text())
            self.durable = {int(k): v for k, v in meta["nodes"].items()}
            self.next_ino = int(meta["next_ino"])
        else:
            self.durable = {ROOT_INO: {"mode": stat.S_IFDIR | 0o755, "uid": 0, "gid": 0, "entries": {}}}
            self.next_ino = ROOT_INO + 1
            self._save_meta()
        self.nodes = self._load()

    # -- the disk --------------------------------------------------------------------------------

    def _load(self) -> dict[int, Node]:
        """The view after a mount: what is reachable on the disk from the root; the rest is dropped."""
        nodes: dict[int, Node] = {}
        todo = [ROOT_INO]
        while todo:
            ino = todo.pop()
            if ino in nodes or ino not in self.durable:
                continue
            rec = self.durable[ino]
            node = Node(ino, rec["mode"], uid=rec["uid"], gid=rec["gid"])
            if node.is_dir:
                node.entries = {n: i for n, i in rec["entries"].items() if i in self.durable}
                todo.extend(node.entries.values())
            elif stat.S_ISREG(node.mode):
                blob = self._blob(ino)
                data = blob.read_bytes() if blob.exists() else b""
                node.data = bytearray(data[: rec["size"]].ljust(rec["size"], b"\0"))
            nodes[ino] = node
        self.durable = {ino: rec for ino, rec in self.durable.items() if ino in nodes}
        for blob in (self.backing / BLOBS).iterdir():
            if int(blob.name) not in nodes:
                blob.unlink()
        return nodes

    def _blob(self, ino: int) -> Path:
        return self.backing / BLOBS / str(ino)

    def _save_meta(self) -> None:
        tmp = self.backing / (META + ".tmp")
        tmp.write_text(json.dumps({"next_ino": self.next_ino, "nodes": self.durable}))
        os.replace(tmp, self.backing / META)  # the host never loses power: no fsync needed here

    def _write_back(self, node: Node) -> int:
        """Put ``node``'s dirty pages (and size) on the disk; return the pages written."""
        pages = sorted(node.dirty)
        if not pages and not node.size_changed and node.ino in self.durable:
            return 0
        mode = "r+b" if self._blob(node.ino).exists() else "w+b"
        with self._blob(node.ino).open(mode) as out:
            for page in pages:
                out.seek(page * PAGE)
                out.write(node.data[page * PAGE : (page + 1) * PAGE])
            out.truncate(len(node.data))
        self.durable[node.ino] = {"mode": node.mode, "uid": node.uid, "gid": node.gid, "size": len(node.data)}
        node.dirty.clear()
        node.size_changed = False
        if self.last_unsynced is not None and self.last_unsynced[0] == node.ino:
            self.last_unsynced = None
        self.counters.pages_to_disk += len(pages)
        return len(pages)

    def fsync(self, ino: int, name: str) -> None:
        """``fsync``/``fdatasync`` of a file: its data and size reach the disk (its name does not)."""
        self.counters.fsync_calls += 1
        node = self.nodes[ino]
        per_file = self.counters.files.setdefault(name, [0, 0])
        per_file[0] += 1
        if stat.S_ISREG(node.mode):
            per_file[1] += self._write_back(node)
            self._save_meta()

    def fsyncdir(self, ino: int) -> None:
        """``fsync`` of a directory: its entries as they are now reach the disk."""
        self.counters.fsyncdir_calls += 1
        node = self.nodes[ino]
        for child_ino in node.entries.values():
            if child_ino not in self.durable:
                child = self.nodes[child_ino]
                rec: dict[str, Any] = {"mode": child.mode, "uid": child.uid, "gid": child.gid}
                if child.is_dir:
                    rec["entries"] = {}
                elif stat.S_ISREG(child.mode):
                    rec["size"] = 0  # the name is there; the data only once the file is synced
                    self._blob(child_ino).write_bytes(b"")
                self.durable[child_ino] = rec
        self.durable[ino] = {**self.durable[ino], "entries": dict(node.entries)}
        self._save_meta()

    def writeback(self) -> None:
        """What the kernel's flusher does every few seconds: every dirty file's data reaches the disk."""
        with self.lock:
            if self.frozen:
                return
            for node in list(self.nodes.values()):
                if stat.S_ISREG(node.mode) and (node.dirty or node.size_changed) and node.ino in self.durable:
                    self._write_back(node)
            self._save_meta()

    def cut(self, seed: int | None) -> dict[str, Any]:
        """The power goes: nothing more reaches the disk; with a seed, a prefix of the last unsynced
        write does (torn at a random byte). Returns the counters and what was torn."""
        with self.lock:
            self.frozen = True
            torn: dict[str, Any] | None = None
            last = self.last_unsynced
            if seed is not None and last is not None and last[0] in self.durable:
                ino, offset, data = last
                keep = random.Random(seed).randrange(len(data) + 1)
                with self._blob(ino).open("r+b") as out:
                    out.seek(offset)
                    out.write(data[:keep])
                rec = self.durable[ino]
                rec["size"] = max(rec["size"], offset + keep) if keep else rec["size"]
                self._save_meta()
                torn = {"ino": ino, "offset": offset, "length": len(data), "kept": keep}
            return {**self.counters.as_dict(), "torn": torn}

    # -- the view --------------------------------------------------------------------------------

    def _check(self) -> None:
        if self.frozen:
            raise OSError(errno.EIO, "the power is off")

    def _check_write(self, path: str | None = None) -> None:
        """Before a change: EIO once the power is off, EROFS on a read-only mount; an armed cut comes here."""
        self._check()
        if self.readonly:
            raise OSError(errno.EROFS, "read-only file system")
        if self.armed is not None and path is not None:
            prefix, left = self.armed
            if any(p.startswith(prefix) for p in path.split("\0")):
                if left <= 1:
                    # The power goes just before this change: it and everything after it never happen.
                    self.armed = None
                    self.frozen = True
                    raise OSError(errno.EIO, "the power is off")
                self.armed = (prefix, left - 1)

    def lookup(self, path: str) -> Node:
        node = self.nodes[ROOT_INO]
        for part in [p for p in path.split("/") if p]:
            if not node.is_dir or part not in node.entries:
                raise OSError(errno.ENOENT, path)
            node = self.nodes[node.entries[part]]
        return node

    def parent(self, path: str) -> tuple[Node, str]:
        head, _, name = path.rstrip("/").rpartition("/")
        node = self.lookup(head or "/")
        if not node.is_dir:
            raise OSError(errno.ENOTDIR, head)
        return node, name

    def make(self, path: str, mode: int, uid: int, gid: int) -> Node:
        parent, name = self.parent(path)
        if name in parent.entries:
            raise OSError(errno.EEXIST, path)
        node = Node(self.next_ino, mode, uid=uid, gid=gid)
        self.next_ino += 1
        self.nodes[node.ino] = node
        parent.entries[name] = node.ino
        parent.mtime_ns = time.time_ns()
        return node

    def _forget_if_unlinked(self, ino: int, open_inos: Callable[[int], bool]) -> None:
        if not open_inos(ino) and not any(ino in n.entries.values() for n in self.nodes.values() if n.is_dir):
            del self.nodes[ino]

    def write(self, node: Node, data: bytes, offset: int) -> int:
        end = offset + len(data)
        if end > len(node.data):
            node.data.extend(b"\0" * (end - len(node.data)))
            node.size_changed = True
        node.data[offset:end] = data
        node.dirty.update(range(offset // PAGE, (end - 1) // PAGE + 1))
        node.mtime_ns = time.time_ns()
        self.counters.write_calls += 1
        self.counters.write_bytes += len(data)
        self.last_unsynced = (node.ino, offset, bytes(data))
        return len(data)

    def truncate(self, node: Node, length: int) -> None:
        if length < len(node.data):
            del node.data[length:]
        else:
            node.data.extend(b"\0" * (length - len(node.data)))
        node.size_changed = True
        node.dirty = {p for p in node.dirty if p * PAGE < length}
        node.mtime_ns = time.time_ns()


def _operations(model: LazyModel) -> Any:
    """The FUSE operations over ``model`` (mfusepy imported here: only the server process needs it)."""
    import mfusepy

    open_count: dict[int, int] = {}

    def is_open(ino: int) -> bool:
        return open_count.get(ino, 0) > 0

    class Ops(mfusepy.Operations):  # type: ignore[misc]
        use_ns = True

        def _node(self, path: str | None, fh: int | None) -> Node:
            model._check()
            if fh:
                return model.nodes[fh]
            return model.lookup(path or "/")

        def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
            with model.lock:
                node = self._node(path, fh)
                return {
                    "st_ino": node.ino,
                    "st_mode": node.mode,
                    "st_nlink": 2 if node.is_dir else 1,
                    "st_uid": node.uid,
                    "st_gid": node.gid,
                    "st_size": len(node.data),
                    "st_blocks": (len(node.data) + 511) // 512,
                    "st_mtime": node.mtime_ns,
                    "st_ctime": node.mtime_ns,
                    "st_atime": node.mtime_ns,
                }

        def readdir(self, path: str, fh: int) -> list[tuple[str, dict[str, int], int]]:
            with model.lock:
                node = self._node(path, None)
                # With use_ino an entry needs its inode number: readdir(3) skips entries numbered 0.
                names = [(".", node.ino), ("..", node.ino), *node.entries.items()]
                return [(n, {"st_ino": i, "st_mode": model.nodes[i].mode}, 0) for n, i in names]

        def _new(self, path: str, mode: int) -> Node:
            uid, gid, _ = mfusepy.fuse_get_context()
            return model.make(path, mode, uid, gid)

        def mkdir(self, path: str, mode: int) -> int:
            with model.lock:
                model._check_write(path)
                self._new(path, stat.S_IFDIR | (mode & 0o7777))
            return 0

        def mknod(self, path: str, mode: int, dev: int) -> int:
            with model.lock:
                model._check_write(path)
                self._new(path, mode)
            return 0

        def create(self, path: str, mode: int, flags: int = 0) -> int:
            with model.lock:
                model._check_write(path)
                node = self._new(path, stat.S_IFREG | (mode & 0o7777))
                open_count[node.ino] = open_count.get(node.ino, 0) + 1
                return node.ino

        def open(self, path: str, flags: int) -> int:
            with model.lock:
                node = self._node(path, None)
                if flags & (os.O_WRONLY | os.O_RDWR):
                    model._check_write()
                if flags & os.O_TRUNC:
                    model.truncate(node, 0)
                open_count[node.ino] = open_count.get(node.ino, 0) + 1
                return node.ino

        def release(self, path: str | None, fh: int) -> int:
            with model.lock:
                open_count[fh] -= 1
                if not model.frozen and fh in model.nodes:
                    model._forget_if_unlinked(fh, is_open)
            return 0

        def flush(self, path: str | None, fh: int) -> int:
            return 0

        def read(self, path: str | None, size: int, offset: int, fh: int) -> bytes:
            with model.lock:
                return bytes(self._node(path, fh).data[offset : offset + size])

        def write(self, path: str | None, data: bytes, offset: int, fh: int) -> int:
            with model.lock:
                model._check_write(path)
                return model.write(self._node(path, fh), data, offset)

        def truncate(self, path: str | None, length: int, fh: int | None = None) -> int:
            with model.lock:
                model._check_write(path)
                model.truncate(self._node(path, fh), length)
            return 0

        def fsync(self, path: str | None, datasync: int, fh: int) -> int:
            with model.lock:
                model._check_write(path)
                node = self._node(path, fh)
                model.fsync(node.ino, (path or "").rpartition("/")[2])
            return 0

        def opendir(self, path: str) -> int:
            with model.lock:
                return self._node(path, None).ino

        def releasedir(self, path: str | None, fh: int) -> int:
            return 0

        def fsyncdir(self, path: str | None, datasync: int, fh: int) -> int:
            with model.lock:
                model._check_write(path)
                model.fsyncdir(self._node(path, fh).ino)
            return 0

        def unlink(self, path: str) -> int:
            with model.lock:
                model._check_write(path)
                parent, name = model.parent(path)
                ino = parent.entries.pop(name)
                model._forget_if_unlinked(ino, is_open)
            return 0

        def rmdir(self, path: str) -> int:
            with model.lock:
                model._check_write(path)
                parent, name = model.parent(path)
                if model.nodes[parent.entries[name]].entries:
                    raise OSError(errno.ENOTEMPTY, path)
                del model.nodes[parent.entries.pop(name)]
            return 0

        def rename(self, old: str, new: str) -> int:
            with model.lock:
                model._check_write(old + "\0" + new)
                src, src_name = model.parent(old)
                dst, dst_name = model.parent(new)
                ino = src.entries.pop(src_name)
                replaced = dst.entries.get(dst_name)
                dst.entries[dst_name] = ino
                if replaced is not None and replaced != ino:
                    model._forget_if_unlinked(replaced, is_open)
            return 0

        def chmod(self, path: str | None, mode: int) -> int:
            with model.lock:
                model._check_write()
                node = self._node(path, None)
                node.mode = (node.mode & ~0o7777) | (mode & 0o7777)
            return 0

        def chown(self, path: str | None, uid: int, gid: int) -> int:
            with model.lock:
                node = self._node(path, None)
                node.uid = node.uid if uid == -1 else uid
                node.gid = node.gid if gid == -1 else gid
            return 0

        def utimens(self, path: str | None, times: tuple[int, int] | None = None) -> int:
            with model.lock:
                node = self._node(path, None)
                node.mtime_ns = times[1] if times else time.time_ns()
            return 0

        def access(self, path: str, amode: int) -> int:
            with model.lock:
                self._node(path, None)
                if amode & os.W_OK:
                    model._check_write()  # access(2) says EROFS on a read-only mount
            return 0

        def statfs(self, path: str) -> dict[str, int]:
            st = os.statvfs(model.backing)
            return {
                key: getattr(st, key)
                for key in ("f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail", "f_files", "f_ffree")
            } | {"f_namemax": 255}

    return Ops()


def _serve_control(model: LazyModel, path: Path) -> None:
    """Answer a JSON line a request on ``path``: stats, writeback, readonly on|off, arm PREFIX N, cut [N]."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(4)
    while True:
        conn, _ = server.accept()
        with conn, conn.makefile("rwb") as stream:
            words = stream.readline().decode().split()
            if words and words[0] == "cut":
                reply = model.cut(int(words[1]) if len(words) > 1 else None)
            elif words and words[0] == "readonly":
                with model.lock:
                    model.readonly = words[1] == "on"
                    reply = model.counters.as_dict()
            elif words and words[0] == "arm":
                with model.lock:
                    model.armed = (words[1], int(words[2]))
                    reply = model.counters.as_dict()
            elif words and words[0] == "writeback":
                model.writeback()
                with model.lock:
                    reply = model.counters.as_dict()
            else:
                with model.lock:
                    reply = {**model.counters.as_dict(), "frozen": model.frozen}
            stream.write(json.dumps(reply).encode() + b"\n")


def serve(backing: Path, mountpoint: Path, control: Path, writeback_s: float | None) -> None:
    """Mount the filesystem at ``mountpoint`` over ``backing`` until unmounted."""
    import mfusepy

    model = LazyModel(backing)
    threading.Thread(target=_serve_control, args=(model, control), daemon=True).start()
    if writeback_s:

        def flusher() -> None:
            while True:
                time.sleep(writeback_s)
                model.writeback()

        threading.Thread(target=flusher, daemon=True).start()
    mfusepy.FUSE(_operations(model), str(mountpoint), foreground=True, use_ino=True, fsname="lazyfs")


class LazyMount:
    """The rig from a test's side: mount, cut the power, mount again, read the counters."""

    def __init__(self, root: Path, *, writeback_s: float | None = None) -> None:
        self.backing = root / "disk"
        self.mountpoint = root / "mnt"
        self.control = root / "lazyfs.sock"
        self.log = root / "lazyfs.log"
        self.writeback_s = writeback_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.backing.mkdir(parents=True, exist_ok=True)
        self.mountpoint.mkdir(parents=True, exist_ok=True)

    def mount(self) -> None:
        """Mount what is on the disk now; wait (10 s at most) until the mount is there."""
        self.control.unlink(missing_ok=True)
        args = [str(self.backing), str(self.mountpoint), str(self.control)]
        if self.writeback_s:
            args.append(str(self.writeback_s))
        repo = Path(__file__).resolve().parents[2]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.testbed.lazyfs", *args], stdout=out, stderr=out, cwd=repo
            )
        proc = self.proc

        def ready() -> bool:
            return self.mounted() and self.control.exists()

        with contextlib.suppress(AssertionError):  # reported below, with the log
            wait_until(lambda: proc.poll() is not None or ready(), "lazyfs to mount", 10, every=0.02)
        if not ready():
            self._stop()
            raise RuntimeError(f"lazyfs did not mount: {self.log.read_text(errors='replace')[-2000:]}")

    def _ask(self, line: str) -> dict[str, Any]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(30)
            sock.connect(str(self.control))
            sock.sendall(line.encode() + b"\n")
            with sock.makefile("rb") as stream:
                answer: dict[str, Any] = json.loads(stream.readline())
                return answer

    def stats(self) -> dict[str, Any]:
        """The counters since this mount."""
        return self._ask("stats")

    def writeback(self) -> dict[str, Any]:
        """Do what the kernel's flusher does every 30 s (dirty data to the disk, no fsync); the counters."""
        return self._ask("writeback")

    def set_readonly(self, readonly: bool) -> None:
        """Fail every write from now on with EROFS (as the kernel after disk errors), or stop doing so."""
        self._ask("readonly on" if readonly else "readonly off")

    def arm(self, prefix: str, changes: int) -> None:
        """Cut the power just before the ``changes``-th change of a path under ``prefix`` (from the mount's
        root, e.g. ``/etc/``); ``frozen()`` says when it came. Then ``cut()`` as after any other cut."""
        self._ask(f"arm {prefix} {changes}")

    def frozen(self) -> bool:
        """True once the power is off (an armed cut came)."""
        return bool(self._ask("stats")["frozen"])

    def freeze(self, tear_seed: int | None = None) -> dict[str, Any]:
        """Cut the power but stay mounted (every call fails with EIO); return the counters and the tear."""
        return self._ask("cut" if tear_seed is None else f"cut {tear_seed}")

    def cut(self, tear_seed: int | None = None) -> dict[str, Any]:
        """Cut the power (kill every program using the mount first) and unmount; return the counters."""
        reply = self.freeze(tear_seed)
        self.unmount()
        return reply

    def unmount(self) -> None:
        """Unmount and wait for the server to end (what was not synced is gone); safe to call twice."""
        if self.mounted():
            done = subprocess.run(["umount", str(self.mountpoint)], capture_output=True, check=False)
            if done.returncode:
                subprocess.run(["umount", "-l", str(self.mountpoint)], capture_output=True, check=False)
        self._stop()

    def mounted(self) -> bool:
        """The mount point is in the mount table (``ismount`` would ask the filesystem, dead after a cut)."""
        target = str(self.mountpoint.resolve())
        with open("/proc/self/mounts") as mounts:
            return any(line.split()[1] == target for line in mounts)

    def _stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> Self:
        self.mount()
        return self

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        with contextlib.suppress(Exception):
            self.unmount()


if __name__ == "__main__":
    serve(
        Path(sys.argv[1]),
        Path(sys.argv[2]),
        Path(sys.argv[3]),
        float(sys.argv[4]) if len(sys.argv) > 4 else None,
    )
