"""Hearth installed as a hub owner installs it: a built wheel in a fresh virtual env, far from the sources.

Every command runs from a folder outside the repository, so nothing can come from the source tree.
"""

from __future__ import annotations

import os
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.testbed.wheel import build_wheel, make_env


class Installed:
    """A fresh virtual env with the built wheel installed in it."""

    def __init__(self, root: Path, wheel: Path) -> None:
        self.root = root
        self.wheel = wheel
        self.bin = root / "bin"
        self.workdir = root.parent / "elsewhere"
        self.workdir.mkdir()

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env["COLUMNS"] = "200"
        return subprocess.run(
            [str(self.bin / "hearth"), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=self.workdir,
            env=env,
        )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """Build the wheel, make a fresh env, install the wheel into it."""
    base = tmp_path_factory.mktemp("wheel")
    wheel = build_wheel(base / "dist")
    make_env(base / "env", wheel)
    return Installed(base / "env", wheel)


def test_the_wheel_carries_the_models_and_not_their_training_scripts(installed: Installed) -> None:
    names = zipfile.ZipFile(installed.wheel).namelist()
    for model in ("activity", "appliance"):
        for file in ("card.json", "model.tflite", "test.npz", "MODEL_CARD.md"):
            assert f"agent/_models/{model}/{file}" in names
    assert not [n for n in names if n.endswith(("train.py", "_training.py"))]


def test_the_installed_agent_comes_from_the_env_not_the_sources(installed: Installed) -> None:
    where = subprocess.run(
        [str(installed.bin / "python"), "-c", "import agent; print(agent.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=installed.workdir,
    ).stdout.strip()
    assert Path(where).is_relative_to(installed.root), where


def test_model_list_shows_the_built_in_models(installed: Installed) -> None:
    result = installed.run("model", "list")
    assert result.returncode == 0, result.stderr
    assert "activity" in result.stdout
    assert "appliance" in result.stdout


def test_model_eval_runs_the_held_out_split_through_the_runtime(installed: Installed) -> None:
    result = installed.run("model", "eval", "activity")
    assert result.returncode == 0, result.stderr
    assert "activity: 40 held-out windows, accuracy" in result.stdout


def test_a_short_demo_runs_from_the_installed_wheel(installed: Installed) -> None:
    result = installed.run("demo", "--duration", "3")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "readings stayed in the home" in result.stdout
    assert "context.activity" in result.stdout
