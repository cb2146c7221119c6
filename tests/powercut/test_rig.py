"""The rig keeps exactly what was synced: file data after fsync, names after the directory's fsync."""

from __future__ import annotations

import os
from pathlib import Path

from agent.store.sqlite import ensure_private_dir, sync_dir
from tests.testbed.lazyfs import LazyMount


def _write(path: Path, data: bytes, *, sync: bool) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.write(fd, data)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def test_unsynced_writes_are_lost_and_synced_ones_kept(rig: LazyMount) -> None:
    kept, lost = rig.mountpoint / "kept", rig.mountpoint / "lost"
    _write(kept, b"synced", sync=True)
    _write(lost, b"only in the cache", sync=False)
    sync_dir(rig.mountpoint)
    with kept.open("ab") as out:
        out.write(b" and then some")
    assert kept.read_bytes() == b"synced and then some"
    counted = rig.cut()
    assert counted["fsync_calls"] == 1
    assert counted["fsyncdir_calls"] == 1
    assert counted["files"]["kept"] == {"fsyncs": 1, "pages": 1}
    rig.mount()
    assert kept.read_bytes() == b"synced"
    assert lost.read_bytes() == b""  # its name was synced with the directory, its data never


def test_rename_survives_only_with_the_directory_synced(rig: LazyMount) -> None:
    target = rig.mountpoint / "config.toml"
    _write(target, b"old", sync=True)
    sync_dir(rig.mountpoint)
    _write(rig.mountpoint / "config.toml.new", b"new", sync=True)
    os.replace(rig.mountpoint / "config.toml.new", target)
    rig.cut()
    rig.mount()
    assert target.read_bytes() == b"old"
    assert not (rig.mountpoint / "config.toml.new").exists()
    _write(rig.mountpoint / "config.toml.new", b"new", sync=True)
    os.replace(rig.mountpoint / "config.toml.new", target)
    sync_dir(rig.mountpoint)
    rig.cut()
    rig.mount()
    assert target.read_bytes() == b"new"


def test_a_torn_write_keeps_a_seeded_prefix(rig: LazyMount) -> None:
    path = rig.mountpoint / "file"
    _write(path, b"a" * 100, sync=True)
    sync_dir(rig.mountpoint)
    with path.open("r+b") as out:
        out.write(b"b" * 100)
    torn = rig.cut(tear_seed=7)["torn"]
    rig.mount()
    assert torn["length"] == 100
    assert path.read_bytes() == b"b" * torn["kept"] + b"a" * (100 - torn["kept"])


def test_a_new_data_folder_survives_a_cut(rig: LazyMount) -> None:
    data_dir = rig.mountpoint / "var" / "hearth"
    ensure_private_dir(data_dir)
    rig.cut()
    rig.mount()
    assert data_dir.is_dir()
