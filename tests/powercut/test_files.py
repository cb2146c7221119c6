"""Files the hub writes outside SQLite survive a cut whole: a passport export, a config swapped by a push."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

from agent.consent.passport import export, verify_archive
from agent.fleet import files
from agent.readings import Reading, StreamInfo
from agent.store.ledger import open_ledger
from agent.store.readings import open_readings
from tests.conftest import REPO
from tests.testbed.lazyfs import LazyMount


def test_a_finished_passport_export_survives_a_cut(tmp_path: Path, rig: LazyMount) -> None:
    store = open_readings(tmp_path / "data")
    ledger = open_ledger(tmp_path / "data")
    try:
        store.write_batch(
            [Reading("room.temperature", 1_800_000_000.0 + i, 20.0) for i in range(100)],
            [("simulated", StreamInfo.of("room", "temperature", "C"))],
        )
        archive = rig.mountpoint / "passport.zip"
        export(store.conn, ledger, archive, hub_id="hub", now=1_800_000_100.0)
    finally:
        store.close()
        ledger.close()
    rig.cut()
    rig.mount()
    assert archive.exists(), "the export's name was not on the disk"
    assert verify_archive(archive) == []


SWAPPER = """
import sys
from pathlib import Path
from agent.fleet import files
path, start = Path(sys.argv[1]), int(sys.argv[2])
for version in range(start, start + 100_000):
    files.install(path, f"# version {version}\\n" + f"key = {version}\\n" * 500)
    print(version, flush=True)
"""


def _version(text: str) -> int:
    """The version of a whole config file written by SWAPPER (AssertionError if it is torn)."""
    version = int(text.split("\n", 1)[0].removeprefix("# version "))
    assert text == f"# version {version}\n" + f"key = {version}\n" * 500, "a torn config file"
    return version


def test_a_config_swap_cut_at_any_moment_leaves_the_new_file_whole(tmp_path: Path, rig: LazyMount) -> None:
    seed = random.randrange(1 << 30)
    print(f"config-swap seed {seed}")
    rng = random.Random(seed)
    config = rig.mountpoint / "hearth.toml"
    files.install(config, "# version 0\n" + "key = 0\n" * 500)
    start = 1
    for cut in range(6):
        swapper = subprocess.Popen(
            [sys.executable, "-c", SWAPPER, str(config), str(start)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        assert swapper.stdout is not None
        swapper.stdout.readline()  # an install returned
        time.sleep(rng.uniform(0, 0.3))  # the random moment of the cut, not synchronisation
        rig.freeze()
        swapper.kill()
        swapper.wait()
        returned = max([start, *(int(line) for line in swapper.stdout.read().split())])
        swapper.stdout.close()
        rig.unmount()
        rig.mount()
        where = f"cut {cut} (seed {seed})"
        assert config.exists(), f"no config file after {where}"
        version = _version(config.read_text())
        assert version >= returned, f"{where}: install {returned} returned, yet version {version} is in place"
        prev = files.sibling(config, ".prev")
        if prev.exists():
            _version(prev.read_text())
        start = version + 1
