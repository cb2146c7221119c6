"""``hearth demo`` runs its own broker and shows that only the example grant's summaries left the home."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from agent.cli import cli
from tests.conftest import REPO
from tests.testbed.mosquitto import accepts
from tests.testbed.wait import wait_until


def test_demo_shows_what_left_the_home() -> None:
    # The first summary covers the first whole 10 s window after the grant, on the wall-clock grid: up to
    # 10 s to the next boundary, the window itself, then the summary lag (1 s) and tick (2 s). 22 s missed
    # it whenever the grant came just after a boundary; 30 s covers that, with the rest left for the work.
    result = CliRunner().invoke(cli, ["demo", "--duration", "30"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = result.output
    assert "example grant" in out
    assert "seq 1: living_room.temperature" in out
    assert "energy-coop/living_room.temperature" in out
    assert "energy-coop/kitchen_plug" not in out
    assert "energy-coop/living_room.humidity" not in out
    assert out.count("energy-coop/") == out.count(": living_room.temperature")


def _descendants(pid: int) -> list[int]:
    """Every living process below ``pid`` (Linux /proc)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found += [child, *_descendants(child)]
    return found


def _name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")  # exited; waiting for whoever adopted it to reap it


def test_a_killed_demo_takes_its_broker_with_it() -> None:
    demo = subprocess.Popen(
        [sys.executable, "-m", "agent", "demo", "--duration", "120"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        assert demo.stdout is not None
        port = 0
        for line in demo.stdout:
            if match := re.search(r"upstream broker: Mosquitto on 127\.0\.0\.1:(\d+)", line):
                port = int(match.group(1))
                break
        assert port, "the demo did not start its Mosquitto"
        brokers = [
            p for p in _descendants(demo.pid) if Path(f"/proc/{p}/comm").read_text().strip() == "mosquitto"
        ]
        assert len(brokers) == 1
        assert accepts(port)
        demo.send_signal(signal.SIGKILL)
        demo.wait(timeout=10)
        wait_until(lambda: _gone(brokers[0]), "the demo's broker to exit", within=10)
        wait_until(lambda: not accepts(port), "nothing to listen on the demo broker's port", within=10)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        assert demo.stdout is not None
        demo.stdout.close()
