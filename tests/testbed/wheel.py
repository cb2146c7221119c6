"""Hearth as a hub owner installs it: the wheel built from this checkout, in a virtual env of its own.

The env is made without pip and reaches the dependencies already installed for the tests through a
plain path entry, never through their ``.pth`` files, so an editable install of the sources stays
invisible to it.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent


def build_wheel(dist: Path) -> Path:
    """Build the wheel of this checkout into ``dist``; return its path."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(dist), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = dist.glob("hearth_agent-*.whl")
    return wheel


def make_env(root: Path, wheel: Path | None = None) -> Path:
    """A fresh env at ``root`` seeing the test dependencies, with pip, and ``wheel`` installed if given."""
    venv.EnvBuilder(with_pip=False).create(root)
    python = root / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # The test env's dependencies (pip among them), as a plain path after the env's own site-packages.
    (site / "hearth-test-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    if wheel is not None:
        subprocess.run(
            [str(python), "-m", "pip", "install", "--no-deps", "--quiet", str(wheel)],
            check=True,
            capture_output=True,
            timeout=120,
        )
    return python
