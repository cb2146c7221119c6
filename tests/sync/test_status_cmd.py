"""``hearth sync status`` beside a running hub that has no upstream: it runs, and nothing connects."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent.config import load_config
from tests.conftest import hearth
from tests.rules.conftest import running


async def test_sync_status_beside_a_hub_without_an_upstream_says_it_runs_and_has_no_link(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    config = tmp_path / "hearth.toml"
    config.write_text(f'[hub]\nid = "quiet-hub"\ndata_dir = "{data}"\n')
    async with running(load_config(config)):
        shown = await asyncio.to_thread(hearth, "sync", "status", "-c", str(config))
    assert shown.returncode == 0, shown.stderr
    assert "none configured (nothing leaves this hub)" in shown.stdout
    assert "no link (no [upstream] section)" in shown.stdout
    assert "the hub is not running" not in shown.stdout
    stopped = await asyncio.to_thread(hearth, "sync", "status", "-c", str(config))
    assert "the hub is not running" in stopped.stdout
