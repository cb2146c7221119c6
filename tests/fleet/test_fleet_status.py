"""``hearth fleet status`` as a fleet view of real hubs on a real Mosquitto: counts, filters, JSON, live."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fleet_support import CLIMATE, PLUG, push_to_hub, running, watching, write_hub

from tests.conftest import REPO, eventually, hearth


async def test_the_fleet_view_counts_versions_and_states_and_filters_them(
    tmp_path: Path, broker: int, fleet_key: Ed25519PrivateKey
) -> None:
    a = write_hub(tmp_path, "hub-a", key=fleet_key, port=broker, groups=["kitchens"])
    b = write_hub(tmp_path, "hub-b", key=fleet_key, port=broker, groups=["kitchens"])
    c = write_hub(tmp_path, "hub-c", key=fleet_key, port=broker, groups=["garage"])
    url = f"mqtt://127.0.0.1:{broker}"
    async with watching(broker) as watcher:
        async with running([c]):  # reports, then goes away
            await watcher.wait_for(["hub-c"], "provisioned", None)
        async with running([a, b]):
            await watcher.wait_for(["hub-a", "hub-b"], "provisioned", None)
            await push_to_hub(broker, fleet_key, "hub-a", PLUG + CLIMATE, version=3)
            await watcher.wait_for(["hub-a"], "applied", 3)
            await eventually(lambda: watcher.links.get("hub-c") == "offline", "hub-c offline")

            def status(*args: str) -> dict[str, object]:
                shown = hearth("fleet", "status", "--broker", url, "--wait", "500ms", "--json", *args)
                assert shown.returncode == 0, shown.stderr
                found: dict[str, object] = json.loads(shown.stdout)
                return found

            everything = await asyncio.to_thread(status)
            assert everything["hubs"] == 3
            assert everything["versions"] == {"3": 1, "0": 2}
            assert everything["states"] == {"provisioned": 2, "applied": 1}
            assert everything["offline"] == 1
            rows = {row["hub"]: row for row in everything["rows"]}  # type: ignore[attr-defined]
            assert rows["hub-c"]["link"] == "offline"
            assert rows["hub-c"]["groups"] == ["garage"]
            assert rows["hub-c"]["seen"] > 0
            assert rows["hub-a"]["running_version"] == 3

            def hubs(*args: str) -> list[str]:
                return [row["hub"] for row in status(*args)["rows"]]  # type: ignore[attr-defined]

            assert await asyncio.to_thread(hubs, "--group", "kitchens") == ["hub-a", "hub-b"]
            assert await asyncio.to_thread(hubs, "--state", "offline") == ["hub-c"]
            assert await asyncio.to_thread(hubs, "--state", "applied") == ["hub-a"]
            assert await asyncio.to_thread(hubs, "--version", "0", "--group", "kitchens") == ["hub-b"]

            table = await asyncio.to_thread(
                hearth, "fleet", "status", "--broker", url, "--wait", "500ms", env_extra={"COLUMNS": "200"}
            )
            assert table.returncode == 0, table.stderr
            assert "3 hubs; running v3: 1, v0: 2; provisioned: 2, applied: 1; offline: 1" in table.stdout
            row = next(line for line in table.stdout.splitlines() if "hub-c" in line)
            assert "garage" in row
            assert "offline" in row

            # Live (piped): a line each time the picture changes, until interrupted.
            live = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "agent", "fleet", "status", "--broker", url,
                "--live", "--group", "garage",
                cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            assert live.stdout is not None
            first = await asyncio.wait_for(live.stdout.readline(), 30)
            assert first.decode().startswith("1 hub; running v0: 1; provisioned: 1; offline: 1"), first
            async with running([c]):
                again = await asyncio.wait_for(live.stdout.readline(), 30)
                assert "offline: 0" in again.decode(), again
                live.send_signal(signal.SIGINT)  # Ctrl-C, even if a shell started the tests in the background
                _, err = await asyncio.wait_for(live.communicate(), 30)
    assert live.returncode == 0, err.decode()
    assert "Traceback" not in err.decode()


def test_bad_filters_are_named() -> None:
    result = hearth("fleet", "status", "--broker", "mqtt://127.0.0.1:1", "--state", "happy")
    assert result.returncode == 2
    assert "--state" in result.stderr
    live = hearth("fleet", "status", "--broker", "mqtt://127.0.0.1:1", "--live", "--json")
    assert live.returncode == 2
    assert "--live draws a table" in live.stderr
