"""Files the hub writes outside SQLite survive a cut whole: a passport export, a config swapped by a push."""

from __future__ import annotations

import errno
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
from agent.store.sqlite import ensure_private_dir
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


def test_a_config_swap_and_its_rollback_cut_before_each_step_leave_a_whole_file(
    tmp_path: Path, rig: LazyMount
) -> None:
    """Every step of a push's install and of its rollback, cut in turn: the old or the new file, whole."""
    folder = rig.mountpoint / "etc"
    ensure_private_dir(folder)
    config = folder / "hearth.toml"
    old, new = "# version 1\n" + "key = 1\n" * 500, "# version 2\n" + "key = 2\n" * 500
    files.install(config, old)
    outcomes: list[str] = []
    for step in range(1, 100):
        rig.arm("/etc", step)
        installed = False
        try:
            files.install(config, new)
            installed = True
            files.restore_previous(config)
        except OSError as exc:
            refused = exc.errno
        else:  # past the last step: the install and the rollback both returned, and hold
            rig.cut(tear_seed=step)
            rig.mount()
            assert files.read(config) == old, "a rollback that returned was lost at a cut"
            break
        assert refused == errno.EIO
        assert rig.frozen()
        rig.cut(tear_seed=step)
        rig.mount()
        text = files.read(config)
        assert text in (old, new), f"a torn config file after a cut before change {step}"
        prev = files.sibling(config, ".prev")
        if prev.exists():
            assert files.read(prev) in (old, new), f"a torn .prev after a cut before change {step}"
        if installed:  # cut in the rollback: until it returns, the install that returned holds
            assert text == new, f"an install that returned was lost at a cut before change {step}"
        outcomes.append("new" if text == new else "old")
        files.install(config, old)  # the next round starts from the old file again
    print(f"cut before each of {len(outcomes)} changes: {' '.join(outcomes)}")
    assert outcomes[0] == "old"
    assert "new" in outcomes
