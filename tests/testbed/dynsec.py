"""A real Mosquitto that lets in only the users of its dynamic security plugin (tests and benchmarks)."""

from __future__ import annotations

import glob
import os
import pwd
import subprocess
from pathlib import Path

from tests.testbed.mosquitto import Mosquitto

PLUGIN = next(iter(glob.glob("/usr/lib/*/mosquitto_dynamic_security.so")), "")
ADMIN = "admin"


class DynsecMosquitto(Mosquitto):
    """A private Mosquitto with the dynsec plugin; its admin is ``admin`` with ``admin_password``."""

    def __init__(self, folder: Path, *, admin_password: str, extra_conf: str = "") -> None:
        super().__init__(folder)
        if not PLUGIN:
            raise RuntimeError("mosquitto's dynamic security plugin is missing (Debian package mosquitto)")
        users = folder / "dynamic-security.json"
        subprocess.run(
            ["mosquitto_ctrl", "dynsec", "init", str(users), ADMIN, admin_password],
            check=True,
            capture_output=True,
        )
        self.conf.write_text(
            # Started as root, Mosquitto would run as "mosquitto", who cannot read a private folder.
            f"user {pwd.getpwuid(os.getuid()).pw_name}\n"
            f"listener {self.port} 127.0.0.1\nallow_anonymous false\npersistence false\n"
            f"plugin {PLUGIN}\nplugin_opt_config_file {users}\nmax_queued_messages 10000\n{extra_conf}"
        )
