"""The power-cut rig (tests.testbed.lazyfs) under tmp_path, skipped where FUSE cannot mount; a broker."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sync.conftest import Broker
from tests.testbed.lazyfs import LazyMount


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[LazyMount]:
    if os.geteuid() != 0 or not Path("/dev/fuse").exists():
        pytest.skip("the power-cut rig mounts a FUSE filesystem: it needs root and /dev/fuse")
    mount = LazyMount(tmp_path / "rig")
    mount.mount()
    yield mount
    mount.unmount()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    folder = tmp_path / "broker"
    folder.mkdir()
    made = Broker(folder)
    made.start()
    yield made
    made.stop()
