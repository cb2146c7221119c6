"""``Agent.reconfigure``: only what changed restarts; the hub's identity cannot change under it."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fleet_support import CLIMATE, PLUG, running, write_hub

from agent.config import Config, load_config, parse_config
from agent.daemon import Agent
from agent.errors import ConfigError
from tests.testbed.wait import eventually

KETTLE = """
[[sources]]
kind = "simulated"
name = "kettle"
file = "builtin:kettle_plug.csv"
rate = 50
"""


async def test_only_changed_and_new_sources_restart(tmp_path: Path, fleet_key: Ed25519PrivateKey) -> None:
    path = write_hub(tmp_path, "hub-x", key=fleet_key, port=1, sources=PLUG + CLIMATE + KETTLE)
    async with running([path]) as (hub,):
        agent = hub.agent
        plug, climate = agent.source_runner("plug"), agent.source_runner("climate")
        assert plug is not None
        assert climate is not None
        faster_climate = CLIMATE.replace("rate = 50", "rate = 100")
        new = parse_config(path.read_text().replace(CLIMATE, faster_climate).replace(KETTLE, ""))
        changes = await agent.reconfigure(new)
        assert changes.started == ("climate",)
        assert sorted(changes.stopped) == ["climate", "kettle"]
        assert changes.kept == ("plug",)
        assert agent.source_runner("plug") is plug
        assert agent.source_runner("kettle") is None
        restarted = agent.source_runner("climate")
        assert restarted is not None
        assert restarted is not climate
        await eventually(lambda: restarted.sink.accepted > 0, "the restarted source to record")
        assert agent.config == new
        assert len(agent.recorder.sinks) >= len(agent.runners)


async def refused(agent: Agent, config: Config, changed: Config, match: str) -> None:
    """``agent``, running ``config``, refuses ``changed`` (an error matching ``match``) and keeps it all."""
    runners = list(agent.runners)
    with pytest.raises(ConfigError, match=match):
        await agent.reconfigure(changed)
    assert agent.runners == runners
    assert agent.config == config


async def test_identity_changes_are_refused_and_change_nothing(
    tmp_path: Path, fleet_key: Ed25519PrivateKey
) -> None:
    path = write_hub(tmp_path, "hub-y", key=fleet_key, port=1)
    config = load_config(path)
    async with running([path]) as (hub,):
        for hub_section in (
            msgspec.structs.replace(config.hub, id="someone-else"),
            msgspec.structs.replace(config.hub, data_dir=str(tmp_path / "elsewhere")),
        ):
            changed = msgspec.structs.replace(config, hub=hub_section)
            await refused(hub.agent, config, changed, "cannot change while the hub runs")


async def test_a_source_that_cannot_be_built_changes_nothing(
    tmp_path: Path, fleet_key: Ed25519PrivateKey
) -> None:
    path = write_hub(tmp_path, "hub-z", key=fleet_key, port=1)
    config = load_config(path)
    async with running([path]) as (hub,):
        broken = path.read_text() + CLIMATE.replace("builtin:climate.csv", str(tmp_path / "missing.csv"))
        await refused(hub.agent, config, parse_config(broken), "cannot read simulation data")


async def test_sections_the_running_layers_read_once_need_a_restart(
    tmp_path: Path, fleet_key: Ed25519PrivateKey
) -> None:
    path = write_hub(tmp_path, "hub-w", key=fleet_key, port=1)
    config = load_config(path)
    async with running([path]) as (hub,):
        changed = parse_config(path.read_text() + CLIMATE + '\n[log]\nlevel = "debug"\n')
        await refused(hub.agent, config, changed, r"log: the running agent applies changes to sources")
        zone = msgspec.structs.replace(
            config, hub=msgspec.structs.replace(config.hub, timezone="Europe/Berlin")
        )
        await refused(hub.agent, config, zone, r"hub\.timezone")
