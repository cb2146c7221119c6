"""``scripts/install-service`` on a system image under a folder (``--root``): user, files, modes, unit, links.

systemd is not PID 1 here, so what the script does on a running system (runuser for the check,
``systemctl enable --now``) is left to a real Pi; everything it writes is checked.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.testbed.wheel import REPO, build_wheel, make_env

SCRIPT = REPO / "scripts" / "install-service"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="installing a service is done as root"),
    pytest.mark.skipif(shutil.which("useradd") is None, reason="needs useradd (passwd package)"),
]

HUB = """
[hub]
id = "pi-kitchen"

[[sources]]
kind = "simulated"
name = "plug"
file = "builtin:kettle_plug.csv"
"""


@dataclass
class Image:
    """A system image: the folder, and the wheel to install into it."""

    root: Path
    wheel: Path

    def install(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "HEARTH_PIP_ARGS": "--no-deps"}
        return subprocess.run(
            [str(SCRIPT), "--root", str(self.root), "--from", str(self.wheel), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=env,
        )

    def path(self, inside: str) -> Path:
        return self.root / inside.lstrip("/")

    def user(self) -> list[list[str]]:
        lines = self.path("/etc/passwd").read_text().splitlines()
        return [line.split(":") for line in lines if line.startswith("hearth:")]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("dist"))


@pytest.fixture
def image(tmp_path: Path, wheel: Path) -> Image:
    """A bare image with root's account files, and an env at /opt/hearth that sees the test dependencies."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (root / "etc/group").write_text("root:x:0:\n")
    (root / "etc/shadow").write_text("root:*:19000:0:99999:7:::\n")
    (root / "etc/gshadow").write_text("root:*::\n")
    make_env(root / "opt/hearth")  # the script installs the wheel into it (as on a Pi, without --no-deps)
    return Image(root, wheel)


def _mode(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid


def test_install_makes_user_folders_config_unit_and_enables_it(image: Image, tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text(HUB)
    result = image.install("--config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "hub pi-kitchen, 1 sources" in result.stdout

    [user] = image.user()
    uid, gid, home, shell = int(user[2]), int(user[3]), user[5], user[6]
    assert uid < 1000  # a system user
    assert (home, shell) == ("/var/lib/hearth", "/usr/sbin/nologin")
    assert _mode(image.path("/etc/hearth")) == (0o755, 0, 0)
    assert _mode(image.path("/etc/hearth/hearth.toml")) == (0o640, 0, gid)
    assert image.path("/etc/hearth/hearth.toml").read_text() == HUB
    assert _mode(image.path("/var/lib/hearth")) == (0o700, uid, gid)
    unit = image.path("/etc/systemd/system/hearth.service")
    assert unit.read_text() == (REPO / "config/hearth.service").read_text()
    assert _mode(unit)[0] == 0o644
    assert (image.path("/opt/hearth/bin/hearth")).exists()
    if shutil.which("systemctl"):
        link = image.path("/etc/systemd/system/multi-user.target.wants/hearth.service")
        assert os.readlink(link) == "/etc/systemd/system/hearth.service"

    # Again, without --config: nothing changes, the owner's config stays, no second user.
    config.write_text(HUB.replace("pi-kitchen", "other"))
    again = image.install()
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(image.user()) == 1
    assert image.path("/etc/hearth/hearth.toml").read_text() == HUB
    assert _mode(image.path("/etc/hearth/hearth.toml")) == (0o640, 0, gid)


def test_a_managed_hub_gets_its_own_config_folder_and_the_unit_points_there(
    image: Image, tmp_path: Path
) -> None:
    config = tmp_path / "hub.toml"
    config.write_text(HUB)
    assert image.install("--config", str(config)).returncode == 0
    result = image.install("--managed")
    assert result.returncode == 0, result.stdout + result.stderr
    [user] = image.user()
    uid, gid = int(user[2]), int(user[3])
    managed = image.path("/etc/hearth/managed/hearth.toml")
    assert managed.read_text() == HUB  # moved from /etc/hearth
    assert not image.path("/etc/hearth/hearth.toml").exists()
    assert _mode(image.path("/etc/hearth/managed")) == (0o700, uid, gid)
    assert _mode(managed) == (0o600, uid, gid)
    assert _mode(image.path("/etc/hearth")) == (0o755, 0, 0)
    dropin = image.path("/etc/systemd/system/hearth.service.d/managed.conf")
    assert "Environment=HEARTH_CONFIG=/etc/hearth/managed/hearth.toml" in dropin.read_text()


def test_a_config_that_does_not_check_stops_the_install_before_the_unit(image: Image, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[hub]\nid = "Not Valid"\n')
    result = image.install("--config", str(bad))
    assert result.returncode == 2
    assert "hub.id" in result.stderr
    assert "Traceback" not in result.stderr
    assert not image.path("/etc/systemd/system/hearth.service").exists()


def test_uninstall_keeps_config_and_data_unless_purged(image: Image, tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text(HUB)
    assert image.install("--config", str(config)).returncode == 0
    (image.path("/var/lib/hearth") / "ledger.db").write_text("the owner's data")

    removed = image.install("--uninstall")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert not image.path("/etc/systemd/system/hearth.service").exists()
    assert not image.path("/etc/systemd/system/multi-user.target.wants/hearth.service").is_symlink()
    assert not image.path("/opt/hearth").exists()
    assert image.path("/etc/hearth/hearth.toml").read_text() == HUB
    assert (image.path("/var/lib/hearth") / "ledger.db").exists()
    assert len(image.user()) == 1
    assert image.install("--uninstall").returncode == 0  # twice is fine

    purged = image.install("--uninstall", "--purge")
    assert purged.returncode == 0, purged.stdout + purged.stderr
    assert not image.path("/etc/hearth").exists()
    assert not image.path("/var/lib/hearth").exists()
    assert image.user() == []
