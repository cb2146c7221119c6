"""The docs a newcomer reads: the README stays short, links resolve, the config reference is current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_the_configuration_reference_is_what_the_schema_generates(tmp_path: Path) -> None:
    fresh = tmp_path / "configuration.md"
    subprocess.run(
        [sys.executable, "scripts/config_reference.py", str(fresh)], cwd=REPO, check=True, capture_output=True
    )
    committed = (REPO / "docs" / "configuration.md").read_text()
    assert committed == fresh.read_text(), "docs/configuration.md is stale: run scripts/config-reference"
